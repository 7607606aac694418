import { type Command, Option } from 'commander';
import { type MigrationResult, STORE_CHOICES, type SharedKeyReport, type StoreBackend, type StoreReport } from '../../index.js';
import type { CliContext } from '../context.js';
import { EXIT, type Io, printJson, say, writeData } from '../output.js';

const BACKENDS = STORE_CHOICES.filter((choice): choice is StoreBackend => choice !== 'auto');

/**
 * `loginkit store status | init | migrate --to <backend> | reset`: where credentials are kept, creating a
 * shared store, moving them to another backend, and moving a damaged store aside.
 */
export function register(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  const store = program.command('store').description('where credentials are kept: status, init, migrate, reset');

  store
    .command('status')
    .description('show the credential store, its protection, and whether it opens (exit 1 when it does not)')
    .option('--json', 'print JSON on stdout')
    .action(async (options: { json?: boolean }) => {
      ctx.json(options.json);
      const report = await ctx.kit().storeStatus();
      if (options.json) printJson(io, report);
      else printReport(io, report);
      if (report.problem) ctx.exit(EXIT.failure);
    });

  store
    .command('init')
    .description('create what the shared store (postgres:// or redis:// in LOGINKIT_STORE) needs; safe to run again')
    .option('--generate-key', 'give a new store a new random data key and print it on stdout (shown only now)')
    .option(
      '--keychain',
      "save the store's data key in this machine's OS keychain, so that it needs no LOGINKIT_DATA_KEY (the key generated now, " +
        'or the one LOGINKIT_DATA_KEY or its command gives, checked first); with --generate-key the key is still printed: other machines need it',
    )
    .option('--json', 'print the result as JSON on stdout')
    .action(async (options: { generateKey?: boolean; keychain?: boolean; json?: boolean }) => {
      ctx.json(options.json);
      const result = await ctx.kit().initStore({ generateKey: options.generateKey === true, keychain: options.keychain === true });
      const how = `${result.backend}, ${result.protection}, key id ${result.keyId}`;
      if (result.created) say(io, `Initialised the shared store ${result.location} (${how}).`);
      else say(io, `The shared store ${result.location} is already initialised (${how}); nothing was changed.`);
      if (result.keychain) {
        const entry = `service "${result.keychain.service}", account "${result.keychain.account}"`;
        say(
          io,
          result.keychain.alreadyThere
            ? `The data key is already in this machine's OS keychain (${entry}).`
            : `Saved the data key in this machine's OS keychain (${entry}): this machine needs no LOGINKIT_DATA_KEY now.`,
        );
      }
      if (options.json) printJson(io, result);
      else if (result.dataKey !== null) {
        // The key alone on stdout, so that `loginkit store init --generate-key > key` keeps it and nothing else.
        writeData(io, `${result.dataKey}\n`);
        say(
          io,
          'Above: the new data key. Give it to every machine as LOGINKIT_DATA_KEY (or print it from LOGINKIT_DATA_KEY_COMMAND); it is not shown again.',
        );
      }
    });

  store
    .command('migrate')
    .description(
      "move every credential to another backend, or between this machine's local store and the shared store " +
        '(safe to interrupt: run it again to complete the move)',
    )
    .addOption(
      new Option(
        '--to <backend>',
        'keychain, passphrase or file; or shared: into the shared store that LOGINKIT_STORE or config.json names ' +
          "(while the store is the shared one, a local backend moves its credentials out of it, into this machine's local store)",
      )
        .choices([...BACKENDS, 'shared'])
        .makeOptionMandatory(),
    )
    .option('--replace', 'where the destination holds a credential with another value, replace it with the one moved (default: refuse)')
    .option('--json', 'print the result as JSON on stdout')
    .action(async (options: { to: StoreBackend | 'shared'; replace?: boolean; json?: boolean }) => {
      ctx.json(options.json);
      const result = await ctx.kit().migrateStore(options.to, { replace: options.replace === true });
      if (result.shared !== null) describeSharedMove(io, result);
      else {
        const count = `${result.entries} ${result.entries === 1 ? 'credential' : 'credentials'}`;
        if (!result.changed) say(io, `The credential store ${result.path} already uses ${options.to}; nothing to do.`);
        else if (result.from === null) say(io, `Created an empty ${options.to} credential store at ${result.path}.`);
        else say(io, `Moved ${count} from ${result.from} to ${result.to} in ${result.path}.`);
      }
      if (result.fleet) say(io, result.fleet);
      if (result.note) say(io, result.note);
      if (result.leftover) say(io, `warning: ${result.leftover}`);
      if (options.json) printJson(io, result);
    });

  store
    .command('reset')
    .description('move a store that cannot be read aside (never deletes), so that you can sign in again')
    .option('--force', 'move it aside even when it can be read, or fails only for a passing reason')
    .option('--json', 'print the result as JSON on stdout')
    .action(async (options: { force?: boolean; json?: boolean }) => {
      ctx.json(options.json);
      const result = await ctx.kit().resetStore({ force: options.force === true });
      if (result.movedTo === null) say(io, `There is no credential store at ${result.path}; nothing to do.`);
      else say(io, `Moved the credential store aside to ${result.movedTo}. Sign in again: loginkit login <provider>`);
      if (options.json) printJson(io, result);
    });
}

function describeSharedMove(io: Io, result: MigrationResult): void {
  const count = `${result.entries} ${result.entries === 1 ? 'credential' : 'credentials'}`;
  const already = result.alreadyThere > 0 ? ` (${result.alreadyThere} of them already there)` : '';
  const intoShared = result.to === 'postgres' || result.to === 'redis';
  if (intoShared && result.entries === 0) {
    say(io, `The local credential store ${result.path} holds nothing to move; the shared store ${result.shared} was left as it was.`);
  } else if (intoShared) {
    say(io, `Moved ${count} from the local ${result.from} store ${result.path} into the shared store ${result.shared}${already}.`);
  } else {
    say(io, `Moved ${count} from the shared store ${result.shared} into the local ${result.to} store ${result.path}${already}.`);
  }
}

function printReport(io: Io, report: StoreReport): void {
  const asked = `${report.selection.choice} (${report.selection.source === 'default' ? 'the default' : `from ${report.selection.source === 'option' ? '--store' : report.selection.source}`})`;
  const lines = [`Credential store: ${report.path}`];
  if (report.exists === null) {
    lines.push(
      `  backend: ${report.backend ?? 'unknown'}`,
      '  unreachable: whether it exists is unknown',
      `  problem: ${(report.problem ?? '').replace(/\n/g, '\n    ')}`,
    );
  } else if (!report.exists && report.problem) {
    lines.push(`  backend: ${report.backend ?? 'unknown'}`, `  problem: ${report.problem.replace(/\n/g, '\n    ')}`);
  } else if (!report.exists) {
    lines.push('  not created yet: it is created when you first sign in', `  new credentials go to: ${asked}`);
  } else {
    lines.push(`  protection: ${report.protection}`);
    if (report.key && 'keychainAccount' in report.key && !('dataKeyId' in report.key)) {
      lines.push(`  key: in the OS keychain, service "${report.key.keychainService}", account "${report.key.keychainAccount}"`);
    } else if (report.key && 'dataKeyId' in report.key) {
      lines.push(`  key: a data key (key id ${report.key.dataKeyId}), ${whereKeyIs(report.key)}`);
    } else if (report.key) {
      lines.push(`  key: derived from your passphrase (${report.key.kdf})`);
    }
    if (report.entries !== null) lines.push(`  credentials: ${report.entries}`);
    lines.push(`  asked for: ${asked}`);
    if (report.problem) lines.push(`  problem: ${report.problem.replace(/\n/g, '\n    ')}`);
  }
  io.stdout.write(`${lines.join('\n')}\n`);
}

function whereKeyIs(key: SharedKeyReport): string {
  switch (key.foundIn) {
    case 'LOGINKIT_DATA_KEY':
      return 'found in LOGINKIT_DATA_KEY on this machine';
    case 'LOGINKIT_DATA_KEY_COMMAND':
      return 'printed by LOGINKIT_DATA_KEY_COMMAND on this machine';
    case 'keychain':
      return `found in this machine's OS keychain (service "${key.keychainService}", account "${key.keychainAccount}")`;
    default:
      return 'not found on this machine (LOGINKIT_DATA_KEY, LOGINKIT_DATA_KEY_COMMAND or the OS keychain)';
  }
}
