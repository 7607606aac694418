import { randomBytes } from 'node:crypto';
import type { BrokeredChild } from './protocol.js';

// Capabilities of brokered children: one random secret per child, naming only the providers it was given.
// The secret is the placeholder in the child's key variables; it ends when `exec` says the child exited,
// when `exec`'s connection to the agent ends, or at its --ttl, whichever comes first.

/** What a capability lets its holder do. */
export interface Capability {
  readonly secret: string;
  /** A short id for the audit log and `agent status` (not secret, not the capability). */
  readonly child: string;
  /** Provider ids it names, with the profile each was opened for. */
  readonly providers: ReadonlyMap<string, { profile: string | undefined; cwd: string | undefined }>;
  pid: number | null;
  readonly expiresAt: number | null;
}

/** The live capabilities of one agent. */
export class Capabilities {
  private readonly bySecret = new Map<string, Capability>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly endings = new Map<string, Array<() => void>>();

  /** A new capability for `providers`, ended after `ttlMs` when given. */
  open(providers: Capability['providers'], ttlMs: number | undefined, now: number): Capability {
    const capability: Capability = {
      secret: `lk-agent-${randomBytes(32).toString('base64url')}`,
      child: randomBytes(4).toString('hex'),
      providers,
      pid: null,
      expiresAt: ttlMs ? now + ttlMs : null,
    };
    this.bySecret.set(capability.secret, capability);
    if (ttlMs) this.timers.set(capability.secret, setTimeout(() => this.end(capability.child), ttlMs).unref());
    return capability;
  }

  /** The live capability whose secret is `presented` and that names `provider`; undefined otherwise. */
  find(presented: string, provider: string): Capability | undefined {
    const capability = this.bySecret.get(presented);
    return capability?.providers.has(provider) ? capability : undefined;
  }

  /** The live capability of the child with this id. */
  child(child: string): Capability | undefined {
    for (const capability of this.bySecret.values()) if (capability.child === child) return capability;
    return undefined;
  }

  /** Runs `run` when the capability of `child` ends (e.g. to close the listener made for it). */
  onEnd(child: string, run: () => void): void {
    this.endings.set(child, [...(this.endings.get(child) ?? []), run]);
  }

  /** Ends the capability of `child` at once (no grace period). */
  end(child: string): void {
    const capability = this.child(child);
    if (!capability) return;
    this.bySecret.delete(capability.secret);
    clearTimeout(this.timers.get(capability.secret));
    this.timers.delete(capability.secret);
    this.ended(child);
  }

  private ended(child: string): void {
    const runs = this.endings.get(child) ?? [];
    this.endings.delete(child);
    for (const run of runs) run();
  }

  /** Whether any of the live secrets occurs in `text` (to keep them out of the audit log and upstream headers). */
  secrets(): IterableIterator<string> {
    return this.bySecret.keys();
  }

  /** The live children, for `agent status`. */
  list(): BrokeredChild[] {
    return [...this.bySecret.values()].map(({ child, pid, providers, expiresAt }) => ({
      child,
      pid,
      providers: [...providers.keys()],
      expiresAt,
    }));
  }

  /** Ends every capability. */
  clear(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.bySecret.clear();
    for (const child of [...this.endings.keys()]) this.ended(child);
  }
}
