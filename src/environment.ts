import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { LoginkitError } from './errors.js';
import type { Environment } from './home.js';

/** How a person signs in: a browser that reaches the loopback callback, a code entered on any device, or pasting the URL back. */
export type LoginMethod = 'browser' | 'device' | 'paste';

/** An SSH session this process runs in, from `SSH_CONNECTION` (`client_ip client_port server_ip server_port`). */
export interface SshSession {
  /** The address the person connected to, as this machine sees it. */
  serverAddress: string | undefined;
  serverPort: number | undefined;
  user: string | undefined;
  /** This machine's host name, when the address is unknown. */
  hostname: string;
}

/** Where this process runs, as far as signing in is concerned. */
export interface LoginEnvironment {
  readonly platform: NodeJS.Platform;
  readonly ssh: SshSession | undefined;
  /** Windows Subsystem for Linux: the Windows browser can be opened and reaches 127.0.0.1 here (localhost forwarding). */
  readonly wsl: boolean;
  readonly container: boolean;
  /** `CI` is set: nobody is there to sign in. */
  readonly ci: boolean;
  /** A graphical session is there (always on macOS and Windows; `DISPLAY`/`WAYLAND_DISPLAY` elsewhere). */
  readonly display: boolean;
  /** `$BROWSER` names a command: trusted to reach the person (VS Code's remote helpers set it, and forward ports). */
  readonly browserCommand: boolean;
}

/** What {@link detectEnvironment} reads; every part can be replaced, for tests and embedders. */
export interface HostProbe {
  env: Environment;
  platform: NodeJS.Platform;
  /** A file's text, '' for an empty file, undefined when it cannot be read. */
  readTextFile(path: string): string | undefined;
  hostname(): string;
}

const defaultProbe: HostProbe = {
  env: process.env,
  platform: process.platform,
  readTextFile: (path) => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  },
  hostname,
};

/** Looks at the environment, the platform and a few files under /proc and / (Linux only) to tell where this process runs. */
export function detectEnvironment(probe: Partial<HostProbe> = {}): LoginEnvironment {
  const { env, platform, readTextFile } = { ...defaultProbe, ...probe };
  const set = (name: string): boolean => (env[name] ?? '') !== '';
  const linux = platform === 'linux';
  const wsl = linux && (set('WSL_DISTRO_NAME') || set('WSL_INTEROP') || /microsoft/i.test(readTextFile('/proc/version') ?? ''));
  const container =
    linux &&
    (readTextFile('/.dockerenv') !== undefined ||
      readTextFile('/run/.containerenv') !== undefined ||
      set('KUBERNETES_SERVICE_HOST') ||
      /^(docker|podman|lxc|systemd-nspawn)/.test(env.container ?? '') ||
      /\b(docker|kubepods|containerd|libpod|lxc)\b/.test(readTextFile('/proc/1/cgroup') ?? ''));
  const ssh =
    set('SSH_CONNECTION') || set('SSH_TTY') || set('SSH_CLIENT') ? sshSession(env, probe.hostname ?? defaultProbe.hostname) : undefined;
  const ci = set('CI') && !/^(false|0|no)$/i.test(env.CI ?? '');
  const display = platform === 'darwin' || platform === 'win32' || set('DISPLAY') || set('WAYLAND_DISPLAY');
  return { platform, ssh, wsl, container, ci, display, browserCommand: set('BROWSER') };
}

function sshSession(env: Environment, host: () => string): SshSession {
  const [, , serverAddress, serverPort] = (env.SSH_CONNECTION ?? '').trim().split(/\s+/);
  const port = Number(serverPort);
  return {
    serverAddress: serverAddress || undefined,
    serverPort: Number.isInteger(port) && port > 0 ? port : undefined,
    user: env.USER || env.LOGNAME || undefined,
    hostname: host(),
  };
}

/**
 * Whether a browser opened from this process shows up in front of the person and can reach a listener on
 * this machine's 127.0.0.1. Yes on a local desktop, in WSL (Windows browser, localhost forwarding) and with
 * `$BROWSER` set; over SSH only with X forwarding on a Unix host; no in CI, in a container without a display,
 * or on Linux without a display.
 */
export function browserCanReachCallback(environment: LoginEnvironment): boolean {
  if (environment.ci) return false;
  if (environment.browserCommand || environment.wsl) return true;
  if (environment.ssh) return environment.platform !== 'darwin' && environment.platform !== 'win32' && environment.display;
  return environment.display;
}

/** "an SSH session", "a container", … for the sentence that says why a method was chosen. */
export function describeEnvironment(environment: LoginEnvironment): string {
  if (environment.ci) return 'CI';
  if (environment.ssh) return 'an SSH session';
  if (environment.wsl) return 'WSL';
  if (environment.container) return environment.display ? 'a container' : 'a container without a display';
  if (!environment.display) return 'a machine without a display';
  return 'this desktop';
}

/** The method a sign-in will use, and why, in one sentence for the person. */
export interface MethodChoice {
  method: LoginMethod;
  /** Why, as a clause for the person ('' when nothing needs explaining). */
  reason: string;
  /**
   * Whether pasted input is read from the start, racing the callback: when the browser may not be on this
   * machine. Otherwise it is read only once opening the browser fails.
   */
  pasteFromStart: boolean;
}

/** What {@link chooseLoginMethod} decides from. */
export interface MethodRequest {
  /** What the caller asked for; `auto` (the default) decides from the environment. */
  requested: LoginMethod | 'auto';
  environment: LoginEnvironment;
  providerId: string;
  /** The provider offers device sign-in (RFC 8628 metadata, or a protocol of its own). */
  deviceSupported: boolean;
  /** The provider also takes an API key (for the CI message). */
  apiKeySupported: boolean;
  /** The application supplied its own browser opener: it knows how to reach the person. */
  browserInjected: boolean;
  /** Do not open a browser, only show the URL. */
  noBrowser: boolean;
}

/**
 * Picks how to sign in. An explicit request wins (device sign-in must be offered by the provider). `auto`:
 * never waits in CI (throws a `usage` error naming what works there); uses the browser when one opened from
 * here reaches the person and this machine, or when `noBrowser` or an injected opener says so; otherwise a
 * device code when the provider offers one; otherwise the URL is shown and the person pastes back where
 * the browser ended.
 */
export function chooseLoginMethod(request: MethodRequest): MethodChoice {
  const { environment, providerId } = request;
  const where = describeEnvironment(environment);
  const remote = !browserCanReachCallback(environment);
  const pasteFromStart = remote || environment.wsl || environment.container || environment.ssh !== undefined;
  switch (request.requested) {
    case 'device':
      if (!request.deviceSupported) {
        throw new LoginkitError(
          'usage',
          `${providerId} does not offer sign-in with a device code (its server metadata has no device_authorization_endpoint).\nUse: loginkit login ${providerId} --paste`,
        );
      }
      return { method: 'device', reason: 'as requested', pasteFromStart: false };
    case 'paste':
      return { method: 'paste', reason: 'as requested', pasteFromStart: true };
    case 'browser':
      return { method: 'browser', reason: 'as requested', pasteFromStart: pasteFromStart || request.noBrowser };
    case 'auto':
      break;
  }
  if (request.noBrowser) return { method: 'browser', reason: 'no browser is opened: open the URL yourself', pasteFromStart: true };
  if (request.browserInjected) return { method: 'browser', reason: '', pasteFromStart: false };
  if (environment.ci) {
    const ways = [
      ...(request.apiKeySupported ? [`an API key: loginkit login ${providerId} --with-api-key < key-file`] : []),
      ...(request.deviceSupported ? [`a code a person enters on another device: loginkit login ${providerId} --device`] : []),
      ...(request.deviceSupported ? [] : [`a person pasting the URL back: loginkit login ${providerId} --paste`]),
    ];
    throw new LoginkitError(
      'usage',
      `CI is set, so nobody is here to finish a sign-in in a browser; loginkit will not wait.\nIn CI, sign in with ${ways.join('\nor with ')}`,
    );
  }
  if (!remote) {
    return { method: 'browser', reason: environment.wsl ? 'WSL: in the Windows browser' : '', pasteFromStart };
  }
  if (request.deviceSupported) {
    return { method: 'device', reason: `this is ${where}, so a browser opened here would not reach you`, pasteFromStart: false };
  }
  return { method: 'paste', reason: `this is ${where}, so a browser opened here would not reach you`, pasteFromStart: true };
}

/**
 * The command that, run on the person's own computer, forwards a fixed callback port through SSH so that
 * their browser reaches the listener here: `ssh -L 1455:127.0.0.1:1455 alice@203.0.113.7` (`-p` when the
 * server listens on another port than 22).
 */
export function sshForwardingCommand(ssh: SshSession, port: number): string {
  const target = `${ssh.user ? `${ssh.user}@` : ''}${ssh.serverAddress ?? ssh.hostname}`;
  const portOption = ssh.serverPort !== undefined && ssh.serverPort !== 22 ? ` -p ${ssh.serverPort}` : '';
  return `ssh -L ${port}:127.0.0.1:${port}${portOption} ${target}`;
}
