// A cloned repository is attacker input (Claude Code runs `loginkit token` inside whatever repository is open):
// its .loginkit.json takes effect only once allowed, the search stays within the home folder and one file
// system, files others could have written are ignored, devices and FIFOs are refused at once, and folder
// names reach the terminal stripped of escape sequences. Every problem is a warning, never a blocked command.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLoginkit } from '../../src/index.js';
import { makeHome, runCli, runCliProcess } from '../helpers/cli.js';
import { runLoginkit } from '../ecosystem/support.js';

const IS_ROOT = process.getuid?.() === 0;
const OTHER_UID = 54321;
/** A process test that regresses hangs (a FIFO) or reads gigabytes (/dev/zero): it must fail in seconds, not hang. */
const PROCESS_TIMEOUT_MS = 10_000;

describe('project files', () => {
  let home: string;
  let root: string;
  const keys = new Map<string, string>();

  before(async () => {
    home = await makeHome();
    root = await mkdtemp(join(tmpdir(), 'loginkit-project-files-'));
    const kit = createLoginkit({ home, env: { LOGINKIT_STORE: 'file' } });
    for (const profile of ['default', 'proj']) {
      const key = `sk-proj-${profile}-${randomBytes(16).toString('hex')}`;
      keys.set(profile, key);
      await kit.loginWithApiKey('openai', key, { profile, verify: false });
    }
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  /** A folder under the test's root with a .loginkit.json choosing `profile` (and a `sub` folder below it). */
  const project = async (name: string, content: unknown = { profile: 'proj' }): Promise<string> => {
    const folder = join(root, name);
    await mkdir(join(folder, 'sub'), { recursive: true });
    await writeFile(join(folder, '.loginkit.json'), typeof content === 'string' ? content : JSON.stringify(content));
    return folder;
  };
  const client = (cwd: string, warnings: string[] = [], env: Record<string, string> = {}) =>
    createLoginkit({ home, env: { LOGINKIT_STORE: 'file', HOME: '/nonexistent-home', ...env }, cwd, onWarning: (m) => warnings.push(m) });
  const warningLines = (stderr: string): string[] => stderr.split('\n').filter((line) => line.startsWith('warning:'));

  describe('project files need allowing', () => {
    test('an unallowed .loginkit.json is ignored, with one warning naming the command that allows it', async () => {
      const folder = await project('unallowed');
      const warnings: string[] = [];
      const kit = client(join(folder, 'sub'), warnings);
      assert.equal(await kit.getToken('openai'), keys.get('default'));
      assert.equal(await kit.getToken('openai'), keys.get('default'));
      assert.equal(warnings.length, 1, warnings.join('\n'));
      assert.match(
        warnings[0] ?? '',
        /\.loginkit\.json would choose profile "proj" here, but it is not allowed yet, so loginkit ignores it; to use it: loginkit allow$/,
      );

      const cli = await runLoginkit(['token', 'openai'], { home, cwd: folder });
      assert.equal(cli.code, 0, cli.stderr);
      assert.equal(cli.stdout.trim(), keys.get('default'));
      assert.equal(warningLines(cli.stderr).length, 1, cli.stderr);
    });

    test('status and status --json show a project file waiting to be allowed and the command that allows it', async () => {
      const folder = await project('waiting');
      const json = await runLoginkit(['status', '--json'], { home, cwd: join(folder, 'sub') });
      assert.equal(json.code, 0, json.stderr);
      const { projectFiles } = JSON.parse(json.stdout) as { projectFiles: Array<Record<string, unknown>> };
      assert.deepEqual(projectFiles, [
        {
          file: join(folder, '.loginkit.json'),
          directory: folder,
          state: 'not_allowed',
          profile: 'proj',
          providers: null,
          problem: `${join(folder, '.loginkit.json')} would choose profile "proj" here, but it is not allowed yet, so loginkit ignores it; to use it: loginkit allow`,
          allowCommand: 'loginkit allow',
        },
      ]);
      const text = await runLoginkit(['status', 'openai'], { home, cwd: join(folder, 'sub') });
      assert.match(
        text.stdout,
        /project file: .*waiting\/\.loginkit\.json would choose profile "proj" here, but it is not allowed yet.*: loginkit allow\n/,
      );
    });

    test('loginkit allow makes it take effect; a change to its content needs allowing again; deny stops it', async () => {
      const folder = await project('allowed');
      const here = join(folder, 'sub');
      const token = async (): Promise<string> => (await runLoginkit(['token', 'openai'], { home, cwd: here })).stdout.trim();

      const allowed = await runLoginkit(['allow'], { home, cwd: here });
      assert.equal(allowed.code, 0, allowed.stderr);
      assert.match(
        allowed.stderr,
        /^Allowed .*allowed\/\.loginkit\.json: it chooses profile "proj" in .*allowed and below, until it changes\.\n$/,
      );
      assert.equal(await token(), keys.get('proj'));
      assert.equal((await stat(join(home, 'allowed-projects.json'))).mode & 0o777, 0o600);

      await writeFile(join(folder, '.loginkit.json'), JSON.stringify({ profile: 'proj', providers: ['openai'] }));
      const changed = await runLoginkit(['token', 'openai'], { home, cwd: here });
      assert.equal(changed.stdout.trim(), keys.get('default'));
      assert.match(changed.stderr, /changed since you allowed it, so loginkit ignores it; to use it as it is now: loginkit allow/);
      const status = await runLoginkit(['status', '--json'], { home, cwd: here });
      assert.equal((JSON.parse(status.stdout) as { projectFiles: Array<{ state: string }> }).projectFiles[0]?.state, 'changed');

      assert.equal((await runLoginkit(['allow', '..'], { home, cwd: here })).code, 0);
      assert.equal(await token(), keys.get('proj'));
      const denied = await runLoginkit(['deny'], { home, cwd: here });
      assert.match(denied.stderr, /^Denied .*: loginkit ignores it again\./);
      assert.equal(await token(), keys.get('default'));
    });

    test('rules in config.json work without allowing', async () => {
      const ruledHome = await makeHome();
      const folder = join(root, 'config-ruled');
      await mkdir(folder, { recursive: true });
      await writeFile(join(ruledHome, 'config.json'), JSON.stringify({ profileRules: [{ directory: folder, profile: 'work' }] }));
      const kit = createLoginkit({ home: ruledHome, env: { LOGINKIT_STORE: 'file' } });
      await kit.loginWithApiKey('openai', 'sk-proj-work-0123456789abcdef0123', { profile: 'work', verify: false });
      const warnings: string[] = [];
      const here = createLoginkit({ home: ruledHome, env: { LOGINKIT_STORE: 'file' }, cwd: folder, onWarning: (m) => warnings.push(m) });
      assert.equal(await here.getToken('openai'), 'sk-proj-work-0123456789abcdef0123');
      assert.deepEqual(warnings, []);
    });

    test('login and logout in a folder whose profile came from a rule say so', async () => {
      const folder = await project('login-here', { profile: 'ruled' });
      await client(folder).allowProjectFile();
      const env = { LOGINKIT_STORE: 'file' };
      const login = await runCli(['login', 'openai', '--with-api-key', '--no-verify'], {
        home,
        env,
        cwd: folder,
        input: 'sk-proj-ruled-0123456789abcdef0123',
      });
      assert.equal(login.code, 0, login.stderr);
      const said = new RegExp(`Profile "ruled" was chosen by the rule in ${folder}/\\.loginkit\\.json: directory ${folder}`);
      assert.match(login.stderr, said);
      const json = await runCli(['login', 'openai', '--with-api-key', '--no-verify', '--json'], {
        home,
        env,
        cwd: folder,
        input: 'sk-proj-ruled-0123456789abcdef0123',
      });
      assert.equal((JSON.parse(json.stdout) as { profileChosenBy: string }).profileChosenBy, 'rule');
      const logout = await runCli(['logout', 'openai'], { home, env, cwd: folder });
      assert.equal(logout.code, 0, logout.stderr);
      assert.match(logout.stderr, /Logged out of openai \(profile "ruled"\)/);
      assert.match(logout.stderr, said);
    });
  });

  describe('the upward search stops at the home folder and at a file system boundary', () => {
    test('a .loginkit.json above the home folder is not used', async () => {
      const top = await project('above-home');
      const person = join(top, 'home');
      await mkdir(join(person, 'repo'), { recursive: true });
      await client(top).allowProjectFile();
      assert.equal(await client(join(person, 'repo')).getToken('openai'), keys.get('proj'), 'allowed, it applies with HOME elsewhere');
      assert.equal(await client(join(person, 'repo'), [], { HOME: person }).getToken('openai'), keys.get('default'));
    });

    test(
      'a .loginkit.json on another file system than the working directory is not used',
      { skip: !IS_ROOT && 'mounting needs root' },
      async () => {
        const top = await project('above-mount');
        await client(top).allowProjectFile();
        const mount = join(top, 'mnt');
        await mkdir(mount);
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0755', 'tmpfs', mount]);
        try {
          await mkdir(join(mount, 'repo'));
          assert.equal(await client(join(top, 'sub')).getToken('openai'), keys.get('proj'), 'the same file system: used');
          assert.equal(await client(join(mount, 'repo')).getToken('openai'), keys.get('default'));
        } finally {
          execFileSync('umount', [mount]);
        }
      },
    );
  });

  describe('files and folders that others could have written are ignored with a warning', () => {
    test('a .loginkit.json owned by another user', { skip: !IS_ROOT && 'chown needs root' }, async () => {
      const folder = await project('other-owner');
      await client(folder).allowProjectFile();
      await chown(join(folder, '.loginkit.json'), OTHER_UID, OTHER_UID);
      const warnings: string[] = [];
      assert.equal(await client(folder, warnings).getToken('openai'), keys.get('default'));
      assert.match(warnings.join('\n'), /\.loginkit\.json belongs to another user \(uid 54321\), so loginkit ignores it/);
    });

    test('a folder on its path owned by another user', { skip: !IS_ROOT && 'chown needs root' }, async () => {
      const folder = await project('other-folder');
      await client(folder).allowProjectFile();
      await chown(folder, OTHER_UID, OTHER_UID);
      const warnings: string[] = [];
      assert.equal(await client(join(folder, 'sub'), warnings).getToken('openai'), keys.get('default'));
      assert.match(warnings.join('\n'), /is in the folder .*other-folder, which belongs to another user \(uid 54321\)/);
    });

    test('a .loginkit.json or its folder writable by others; a sticky folder is fine', async () => {
      const folder = await project('writable');
      await client(folder).allowProjectFile();
      await chmod(join(folder, '.loginkit.json'), 0o666);
      const warnings: string[] = [];
      assert.equal(await client(folder, warnings).getToken('openai'), keys.get('default'));
      assert.match(warnings.join('\n'), /\.loginkit\.json can be changed by other users \(mode 666\), so loginkit ignores it/);

      await chmod(join(folder, '.loginkit.json'), 0o644);
      await chmod(folder, 0o777);
      warnings.length = 0;
      assert.equal(await client(folder, warnings).getToken('openai'), keys.get('default'));
      assert.match(warnings.join('\n'), /is in the folder .*writable, which other users can change \(mode 777\), so loginkit ignores it/);

      await chmod(folder, 0o1777);
      assert.equal(await client(folder).getToken('openai'), keys.get('proj'));
    });

    test('a broken .loginkit.json is a warning, not an error', async () => {
      for (const [name, content] of [
        ['broken-json', '{"profile": '],
        ['broken-profile', { profile: '../../etc' }],
      ] as const) {
        const folder = await project(name, content);
        const result = await runLoginkit(['token', 'openai'], { home, cwd: folder });
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stdout.trim(), keys.get('default'));
        assert.match(
          result.stderr,
          /\.loginkit\.json is not a valid project file, so loginkit ignores it: expected \{"profile": "<name>"\}/,
        );
        assert.equal((await runLoginkit(['allow'], { home, cwd: folder })).code, 1, 'a broken file cannot be allowed');
      }
    });
  });

  describe('project files are read through the bounded regular-file reader', () => {
    // As processes with a short time limit: a regression reads gigabytes or blocks the event loop forever.
    const tokenIn = (cwd: string) =>
      runCliProcess(['token', 'openai'], { home, cwd, env: { LOGINKIT_STORE: 'file' }, timeoutMs: PROCESS_TIMEOUT_MS });

    test('a .loginkit.json linked to /dev/zero is refused at once', async () => {
      const folder = join(root, 'dev-zero');
      await mkdir(folder);
      await symlink('/dev/zero', join(folder, '.loginkit.json'));
      const result = await tokenIn(folder);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout.trim(), keys.get('default'));
      assert.match(result.stderr, /\.loginkit\.json is a device, not a regular file, so loginkit will not read it\./);
    });

    test('a .loginkit.json that is a FIFO is refused at once', async () => {
      const folder = join(root, 'fifo');
      await mkdir(folder);
      execFileSync('mkfifo', [join(folder, '.loginkit.json')]);
      const result = await tokenIn(folder);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout.trim(), keys.get('default'));
      assert.match(result.stderr, /\.loginkit\.json is a FIFO, not a regular file, so loginkit will not read it\./);
    });
  });

  test('folder paths printed from the file system are stripped of escape sequences', async () => {
    const folder = await project('evil\u001b]0;owned\u0007\u001b[31m\u001b[2J');
    const runs = [
      await runLoginkit(['token', 'openai'], { home, cwd: folder }),
      await runLoginkit(['status'], { home, cwd: folder }),
      await runLoginkit(['allow'], { home, cwd: folder }),
      await runLoginkit(['status', 'openai'], { home, cwd: folder }),
      await runLoginkit(['switch', 'openai', 'default'], { home, cwd: folder }),
    ];
    assert.match(runs[3]?.stdout ?? '', /profile "proj" chosen by the rule in .*evil ]0;owned \[31m \[2J\/\.loginkit\.json/);
    for (const run of runs) {
      assert.equal(run.code, 0, run.stderr);
      assert.doesNotMatch(run.stdout + run.stderr, /[\u0000-\u0009\u000b-\u001f\u007f]/);
    }
  });
});
