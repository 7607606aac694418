// Several "machines" on this one: network namespaces joined to the host by veth pairs, each with its own
// address (10.x.y.2, the host side 10.x.y.1, in a random 10.x range so that parallel runs do not meet).
// Needs root and iproute2; all traffic stays on this machine.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { type Server, connect, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const RELAY = fileURLToPath(new URL('./tcp-relay.cjs', import.meta.url));

/** One namespace: its name, its own address, and the host's address as it sees it. */
export interface Machine {
  readonly namespace: string;
  readonly address: string;
  readonly hostAddress: string;
  /** The host side of its link, to cut the machine off the network. */
  readonly hostInterface: string;
}

/** Namespaces, and the relays that bring host ports into them. */
export interface Machines {
  readonly list: readonly Machine[];
  /** Makes `127.0.0.1:<port>` inside every namespace reach `127.0.0.1:<port>` on the host. */
  relayLoopbackPort(port: number): Promise<void>;
  /** Takes a machine's link down: its packets stop, as when a machine dies without closing its connections. */
  cutOff(machine: Machine): void;
  /** Brings a machine's link back up. */
  reconnect(machine: Machine): void;
  /** Removes namespaces, links and relays. */
  close(): Promise<void>;
}

/** Why namespaces cannot be made here, or undefined when they can. */
export function namespacesMissing(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'iproute2 is not installed (Debian package iproute2; scripts/ensure-system-deps.sh installs it)';
  }
  return undefined;
}

/** Creates `count` namespaces, each linked to the host with its own /24. */
export function createMachines(count: number): Machines {
  const tag = randomBytes(3).toString('hex');
  const second = 200 + ((randomBytes(1)[0] ?? 0) % 50);
  const thirdBase = (randomBytes(1)[0] ?? 0) % 200;
  const list: Machine[] = [];
  const relays: ChildProcess[] = [];
  const hostRelays: Server[] = [];
  const ip = (...args: string[]): void => void execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const machines: Machines = {
    list,
    async relayLoopbackPort(port) {
      for (const machine of list) {
        hostRelays.push(await relayOnHost(machine.hostAddress, port));
        relays.push(await relayInNamespace(machine, port));
      }
    },
    cutOff(machine) {
      ip('link', 'set', machine.hostInterface, 'down');
    },
    reconnect(machine) {
      ip('link', 'set', machine.hostInterface, 'up');
    },
    async close() {
      for (const relay of relays) relay.kill('SIGKILL');
      await Promise.all(hostRelays.map((server) => new Promise((resolve) => server.close(resolve))));
      for (const machine of list) {
        try {
          ip('link', 'del', machine.hostInterface);
        } catch {
          // Gone with its namespace.
        }
        try {
          ip('netns', 'del', machine.namespace);
        } catch {
          // Already removed.
        }
      }
    },
  };
  try {
    for (let i = 0; i < count; i++) {
      const namespace = `lkfleet-${tag}-${i}`;
      const hostInterface = `lk${tag}h${i}`;
      const inside = `lk${tag}n${i}`;
      const prefix = `10.${second}.${thirdBase + i}`;
      ip('netns', 'add', namespace);
      ip('link', 'add', hostInterface, 'type', 'veth', 'peer', 'name', inside);
      ip('link', 'set', inside, 'netns', namespace);
      ip('addr', 'add', `${prefix}.1/24`, 'dev', hostInterface);
      ip('link', 'set', hostInterface, 'up');
      ip('netns', 'exec', namespace, 'ip', 'addr', 'add', `${prefix}.2/24`, 'dev', inside);
      ip('netns', 'exec', namespace, 'ip', 'link', 'set', inside, 'up');
      ip('netns', 'exec', namespace, 'ip', 'link', 'set', 'lo', 'up');
      list.push({ namespace, address: `${prefix}.2`, hostAddress: `${prefix}.1`, hostInterface });
    }
  } catch (error) {
    void machines.close();
    throw error;
  }
  return machines;
}

/** Runs `command` inside the machine's namespace. */
export function spawnIn(machine: Machine | undefined, command: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  if (!machine) return spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  return spawn('ip', ['netns', 'exec', machine.namespace, command, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
}

async function relayOnHost(address: string, port: number): Promise<Server> {
  const server = createServer((inbound) => {
    const outbound = connect(port, '127.0.0.1');
    inbound.pipe(outbound).pipe(inbound);
    const close = (): void => {
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on('error', close);
    outbound.on('error', close);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, resolve);
  });
  return server;
}

async function relayInNamespace(machine: Machine, port: number): Promise<ChildProcess> {
  const child = spawnIn(machine, process.execPath, [RELAY, '127.0.0.1', String(port), machine.hostAddress, String(port)], process.env);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('relay did not start')), 10_000);
    child.stdout?.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
    child.once('exit', (code) => reject(new Error(`relay exited ${code}`)));
  });
  return child;
}
