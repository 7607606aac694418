// Accounts by project: config.json's profileRules and a project's .loginkit.json choose the profile by working
// directory, the most specific (deepest) rule winning; --profile and LOGINKIT_PROFILE still win; status says why.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { createLoginkit } from '../../src/index.js';
import { makeHome } from '../helpers/cli.js';
import { PROFILE_RULES_CONFIG, PROJECT_FILE_EXAMPLE } from './readme-examples.js';
import { runLoginkit } from './support.js';

const PROFILES = ['default', 'work', 'client-a', 'repo-x', 'mine'] as const;

describe('project rules', () => {
  let home: string;
  let root: string;
  const keys = new Map<string, string>();
  const dir = (...parts: string[]): string => join(root, ...parts);

  before(async () => {
    home = await makeHome();
    root = await mkdtemp(join(tmpdir(), 'loginkit-projects-'));
    for (const path of ['elsewhere', 'work/deep/nested', 'work/client-a/src', 'work/client-a/repo-x/sub', 'workshop', 'mine/repo'])
      await mkdir(dir(path), { recursive: true });
    await writeFile(
      join(home, 'config.json'),
      JSON.stringify({
        profileRules: [
          { directory: dir('work'), profile: 'work' },
          { directory: `${dir('work', 'client-a')}/`, profile: 'client-a', providers: ['openai'] },
          { directory: dir('mine'), profile: 'mine' },
        ],
      }),
    );
    await writeFile(dir('work/client-a/repo-x/.loginkit.json'), JSON.stringify({ profile: 'repo-x' }));
    // A project file at the same depth as a config.json rule: the person's own config wins.
    await writeFile(dir('mine/.loginkit.json'), JSON.stringify({ profile: 'repo-x' }));
    const kit = createLoginkit({ home, env: { LOGINKIT_STORE: 'file' } });
    for (const project of ['work/client-a/repo-x', 'mine']) await kit.allowProjectFile(dir(project));
    for (const profile of PROFILES) {
      for (const [id, key] of [
        ['openai', `sk-proj-${randomBytes(24).toString('hex')}`],
        ['anthropic', `sk-ant-api03-${randomBytes(24).toString('hex')}`],
      ] as const) {
        keys.set(`${id}/${profile}`, key);
        await kit.loginWithApiKey(id, key, { profile, verify: false });
      }
    }
  });

  const tokenIn = async (cwd: string, id: string, env: Record<string, string> = {}): Promise<string> =>
    createLoginkit({ home, env: { LOGINKIT_STORE: 'file', ...env }, cwd }).getToken(id);

  test('nested directories: the deepest rule wins, per provider when a rule names providers', async () => {
    const cases: Array<[string, string, (typeof PROFILES)[number]]> = [
      ['elsewhere', 'openai', 'default'],
      ['work', 'openai', 'work'],
      ['work/deep/nested', 'anthropic', 'work'],
      ['work/client-a/src', 'openai', 'client-a'],
      ['work/client-a/src', 'anthropic', 'work'],
      ['work/client-a/repo-x/sub', 'openai', 'repo-x'],
      ['work/client-a/repo-x/sub', 'anthropic', 'repo-x'],
      ['workshop', 'openai', 'default'],
      ['mine/repo', 'openai', 'mine'],
    ];
    for (const [cwd, id, profile] of cases) assert.equal(await tokenIn(dir(cwd), id), keys.get(`${id}/${profile}`), `${id} in ${cwd}`);
  });

  test('LOGINKIT_PROFILE and --profile win over every rule', async () => {
    const inside = dir('work/client-a/repo-x/sub');
    assert.equal(await tokenIn(inside, 'openai', { LOGINKIT_PROFILE: 'mine' }), keys.get('openai/mine'));
    const flag = await runLoginkit(['token', 'openai', '--profile', 'work'], { home, cwd: inside, env: { LOGINKIT_PROFILE: 'mine' } });
    assert.equal(flag.stdout.trim(), keys.get('openai/work'));
    const env = await runLoginkit(['token', 'openai'], { home, cwd: inside, env: { LOGINKIT_PROFILE: 'mine' } });
    assert.equal(env.stdout.trim(), keys.get('openai/mine'));
    const rule = await runLoginkit(['token', 'openai'], { home, cwd: inside });
    assert.equal(rule.stdout.trim(), keys.get('openai/repo-x'));
  });

  test('status says which rule chose the profile', async () => {
    const text = await runLoginkit(['status', 'openai'], { home, cwd: dir('work/client-a/src') });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /openai \[profile client-a\]: API key/);
    assert.ok(
      text.stdout.includes(`profile "client-a" chosen by the rule in ${join(home, 'config.json')}: directory ${dir('work/client-a')}`),
    );
    const json = await runLoginkit(['status', 'openai', '--json'], { home, cwd: dir('work/client-a/repo-x') });
    const status = (JSON.parse(json.stdout) as { providers: Array<{ profile: string; profileChosenBy: string; profileRule: string }> })
      .providers[0];
    assert.deepEqual(status && [status.profile, status.profileChosenBy, status.profileRule], [
      'repo-x',
      'rule',
      `${dir('work/client-a/repo-x/.loginkit.json')}: directory ${dir('work/client-a/repo-x')}`,
    ]);
    const flagged = await runLoginkit(['status', 'openai', '--json', '--profile', 'work'], { home, cwd: dir('work/client-a/repo-x') });
    assert.equal((JSON.parse(flagged.stdout) as { providers: Array<{ profileChosenBy: string }> }).providers[0]?.profileChosenBy, 'option');
  });

  test('switch says when a rule overrides it here', async () => {
    const inside = dir('work/client-a/repo-x');
    const switched = await runLoginkit(['switch', 'openai', 'mine', '--json'], { home, cwd: inside });
    assert.equal(switched.code, 0, switched.stderr);
    assert.match(switched.stderr, /^openai now uses profile "mine" where nothing else chooses one\.\n/);
    assert.ok(
      switched.stderr.includes(
        `Not here: the rule in ${dir('work/client-a/repo-x/.loginkit.json')}: directory ${inside} chooses profile "repo-x", and a rule wins over switch; here use --profile mine, or change the rule.`,
      ),
      switched.stderr,
    );
    const { here } = JSON.parse(switched.stdout) as { here: { profile: string; profileChosenBy: string } };
    assert.deepEqual([here.profile, here.profileChosenBy], ['repo-x', 'rule']);
    const shell = await runLoginkit(['switch', 'openai', 'default'], { home, cwd: dir('elsewhere'), env: { LOGINKIT_PROFILE: 'mine' } });
    assert.match(
      shell.stderr,
      /\nNot in this shell: LOGINKIT_PROFILE chooses profile "mine" and wins over switch; unset LOGINKIT_PROFILE to use it\.\n$/,
    );
    const elsewhere = await runLoginkit(['switch', 'openai', 'default'], { home, cwd: dir('elsewhere') });
    assert.equal(elsewhere.stderr, 'openai now uses profile "default".\n');
  });

  test('status in a folder whose profile comes from a rule names what works there, not switch', async () => {
    await mkdir(dir('unsigned'), { recursive: true });
    await writeFile(dir('unsigned/.loginkit.json'), JSON.stringify({ profile: 'nobody', providers: ['openai'] }));
    await createLoginkit({ home, env: { LOGINKIT_STORE: 'file' } }).allowProjectFile(dir('unsigned'));
    const result = await runLoginkit(['status', 'openai'], { home, cwd: dir('unsigned') });
    assert.equal(result.code, 3);
    assert.match(
      result.stdout,
      /^openai \[profile nobody\]: not signed in \(profile "[a-z-]+" has one, but the rule in .*unsigned\/\.loginkit\.json: directory .*unsigned chooses "nobody" here: use --profile [a-z-]+, or sign in to "nobody": loginkit login openai\)/,
    );
    assert.doesNotMatch(result.stdout, /loginkit switch/);
    const shell = await runLoginkit(['status', 'openai'], { home, cwd: dir('elsewhere'), env: { LOGINKIT_PROFILE: 'nobody' } });
    assert.match(
      shell.stdout,
      /not signed in \(profile "[a-z-]+" has one, but LOGINKIT_PROFILE chooses "nobody": use --profile [a-z-]+, or unset LOGINKIT_PROFILE\)/,
    );
  });

  test('an explicit --profile shadowed by an environment variable gets one line on stderr', async () => {
    const envKey = `sk-proj-env-${randomBytes(16).toString('hex')}`;
    const env = { OPENAI_API_KEY: envKey };
    const named = await runLoginkit(['token', 'openai', '--profile', 'work'], { home, cwd: dir('elsewhere'), env });
    assert.equal(named.stdout.trim(), envKey, 'the environment still wins, as documented');
    assert.equal(
      named.stderr,
      'warning: OPENAI_API_KEY is set and wins over stored credentials, so profile "work" is not used for openai; to use it: --source store, or unset OPENAI_API_KEY\n',
    );
    const unnamed = await runLoginkit(['token', 'openai'], { home, cwd: dir('elsewhere'), env });
    assert.equal(unnamed.stderr, '');
    const store = await runLoginkit(['token', 'openai', '--profile', 'work', '--source', 'store'], { home, cwd: dir('elsewhere'), env });
    assert.deepEqual([store.stdout.trim(), store.stderr], [keys.get('openai/work'), '']);
  });

  test("the README's examples: rules under ~ and a project's .loginkit.json", async () => {
    const fakeHome = await mkdtemp(join(tmpdir(), 'loginkit-person-'));
    const readmeHome = await makeHome();
    await writeFile(join(readmeHome, 'config.json'), PROFILE_RULES_CONFIG);
    for (const path of ['work/client-a/app', 'work/tools', 'src/oss-project/lib']) await mkdir(join(fakeHome, path), { recursive: true });
    await writeFile(join(fakeHome, 'src/oss-project/.loginkit.json'), PROJECT_FILE_EXAMPLE);
    const kit = createLoginkit({ home: readmeHome, env: { LOGINKIT_STORE: 'file', HOME: fakeHome } });
    await kit.allowProjectFile(join(fakeHome, 'src/oss-project'));
    for (const profile of ['work', 'client-a', 'oss'])
      await kit.loginWithApiKey('openai', `sk-proj-${profile}-${randomBytes(16).toString('hex')}`, { profile, verify: false });
    const profileIn = async (path: string): Promise<string | undefined> =>
      (
        await createLoginkit({ home: readmeHome, env: { LOGINKIT_STORE: 'file', HOME: fakeHome }, cwd: join(fakeHome, path) }).status(
          'openai',
        )
      )[0]?.profile;
    assert.equal(await profileIn('work/tools'), 'work');
    assert.equal(await profileIn('work/client-a/app'), 'client-a');
    assert.equal(await profileIn('src/oss-project/lib'), 'oss');
    assert.equal(await profileIn('src'), 'default');
  });
});
