// Real PostgreSQL and Redis servers from the Debian packages, started per test file on loopback (and on
// any extra addresses a test gives, e.g. the host side of network-namespace links), stopped afterwards.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Why the servers cannot be started here, or undefined when they can. */
export function databasesMissing(): string | undefined {
  if (!postgresBin()) return 'PostgreSQL is not installed (Debian package postgresql; scripts/ensure-system-deps.sh installs it)';
  if (!hasCommand('redis-server')) return 'Redis is not installed (Debian package redis-server; scripts/ensure-system-deps.sh installs it)';
  return undefined;
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** A running PostgreSQL with a superuser `loginkit` (scram password) and a database `fleet`. */
export interface PostgresServer {
  readonly port: number;
  readonly password: string;
  /** postgres://loginkit:<password>@<host>:<port>/fleet; host 127.0.0.1 unless given. */
  url(host?: string, database?: string): string;
  /** Stops the server at once (as a crash would), keeping its data. */
  stop(): void;
  /** Starts it again on the same port with the same data. */
  start(): void;
  /** Runs SQL as the superuser through psql on the database `fleet`; the output, trimmed. */
  sql(statement: string): string;
  /** Runs SQL on another database. */
  sqlOn(database: string, statement: string): string;
  /** Stops it and removes its folder. */
  close(): void;
}

/** Options for the servers. */
export interface ServerOptions {
  /** Addresses to listen on besides 127.0.0.1 (host sides of veth links). */
  extraAddresses?: string[];
  /** Password of the server's user. */
  password?: string;
}

/** Starts PostgreSQL as the `postgres` user on a temporary data folder (initdb, pg_ctl). */
export async function startPostgres(options: ServerOptions = {}): Promise<PostgresServer> {
  const bin = postgresBin();
  if (!bin) throw new Error('PostgreSQL is not installed');
  const password = options.password ?? 'pg-secret-password-123';
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'loginkit-pg-'));
  const data = join(dir, 'data');
  writeFileSync(join(dir, 'pw'), `${password}\n`);
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
    chownSync(join(dir, 'pw'), uid, gid);
  }
  chmodSync(dir, 0o700);
  const run = (program: string, args: string[]): string => {
    const command = [join(bin, program), ...args].map(shellQuote).join(' ');
    return asRoot
      ? execFileSync('su', ['postgres', '-s', '/bin/sh', '-c', command], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
      : execFileSync('/bin/sh', ['-c', command], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  };
  run('initdb', [
    '-D',
    data,
    '--auth-local=trust',
    '--auth-host=scram-sha-256',
    '-U',
    'loginkit',
    `--pwfile=${join(dir, 'pw')}`,
    '--no-sync',
    '-E',
    'UTF8',
  ]);
  if (options.extraAddresses?.length) appendFileSync(join(data, 'pg_hba.conf'), 'host all all 10.0.0.0/8 scram-sha-256\n');
  const listen = ['127.0.0.1', ...(options.extraAddresses ?? [])].join(',');
  const settings = [
    `-c listen_addresses=${listen}`,
    `-c port=${port}`,
    `-c unix_socket_directories=${dir}`,
    '-c max_connections=300',
    // fsync off is safe for a server that is only ever killed, not its machine: what was committed is in the
    // OS's cache. synchronous_commit stays on: off, an immediate stop (stop() below) loses the last commits.
    '-c fsync=off',
    '-c full_page_writes=off',
  ].join(' ');
  const start = (): void => void run('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-o', settings, '-w', '-t', '30', 'start']);
  const stop = (): void => void run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
  start();
  const psql = (database: string, statement: string): string =>
    run('psql', ['-h', dir, '-p', String(port), '-U', 'loginkit', '-d', database, '-v', 'ON_ERROR_STOP=1', '-Atc', statement]);
  psql('postgres', 'CREATE DATABASE fleet');
  return {
    port,
    password,
    url: (host = '127.0.0.1', database = 'fleet') => `postgres://loginkit:${encodeURIComponent(password)}@${host}:${port}/${database}`,
    stop,
    start,
    sql: (statement) => psql('fleet', statement).trim(),
    sqlOn: (database, statement) => psql(database, statement).trim(),
    close: () => {
      try {
        stop();
      } catch {
        // Already stopped.
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A running Redis without persistence. */
export interface RedisServer {
  readonly port: number;
  readonly password: string | undefined;
  /** redis://[:password@]<host>:<port>/0 */
  url(host?: string): string;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Freezes the server (SIGSTOP): connections stay open and nothing answers, as with a hung host. */
  pause(): void;
  /** Lets a paused server run again. */
  resume(): void;
  close(): Promise<void>;
}

/** Starts `redis-server` on loopback (and `extraAddresses`), with `--requirepass` when a password is given. */
export async function startRedis(options: ServerOptions = {}): Promise<RedisServer> {
  const port = await freePort();
  const password = options.password;
  const bind = ['127.0.0.1', ...(options.extraAddresses ?? [])].join(' ');
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    const args = ['--bind', bind, '--port', String(port), '--save', '', '--appendonly', 'no', '--protected-mode', 'no'];
    if (password) args.push('--requirepass', password);
    const started = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = started;
    await new Promise<void>((resolve, reject) => {
      let output = '';
      const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${output}`)), 10_000);
      started.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (/Ready to accept connections/.test(output)) {
          clearTimeout(timer);
          resolve();
        }
      });
      started.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited ${code}:\n${output}`));
      });
    });
    started.stdout?.resume();
  };
  const stop = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    port,
    password,
    url: (host = '127.0.0.1') => `redis://${password ? `:${encodeURIComponent(password)}@` : ''}${host}:${port}/0`,
    stop,
    start,
    pause: () => void child?.kill('SIGSTOP'),
    resume: () => void child?.kill('SIGCONT'),
    close: async () => {
      child?.kill('SIGCONT');
      await stop();
    },
  };
}

function postgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((name) => existsSync(join(root, name, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

function hasCommand(name: string): boolean {
  try {
    execFileSync('/bin/sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function shellQuote(text: string): string {
  return /^[A-Za-z0-9_./=,:@%+-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}
