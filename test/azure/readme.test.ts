// The README's "Microsoft Entra ID (azure)" examples, run: its config.json against the stand-in tenant (the
// endpoint pointed at the stand-in), its SDK lines, Codex's auth command, and the settings table's defaults.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateText } from 'ai';

import { createLoginkit } from '../../src/index.js';
import { readDocs } from '../helpers/docs.js';
import { makeHome, runCli, runCliProcess } from '../helpers/cli.js';
import { signInOverHttp } from '../helpers/person.js';
import { type AzureOpenAIStandIn, type EntraPersonStandIn, startAzureOpenAI, startEntraForPerson } from '../helpers/azure-stand-ins.js';
import { AZURE_CONFIG, AZURE_SDK_LINES, CODEX_CONFIG, azureClients } from './readme-lines.js';

const TENANT = '00000000-0000-0000-0000-000000000000';
const EXAMPLE_ENDPOINT = 'https://my-resource.openai.azure.com';

describe('README: Microsoft Entra ID (azure)', () => {
  let entra: EntraPersonStandIn;
  let openai: AzureOpenAIStandIn;
  let home: string;
  before(async () => {
    entra = await startEntraForPerson({ tenant: TENANT });
    openai = await startAzureOpenAI((token) => entra.honours(token));
    home = await makeHome();
    await writeFile(join(home, 'config.json'), AZURE_CONFIG.replace(EXAMPLE_ENDPOINT, openai.url), { mode: 0o600 });
  });
  after(async () => {
    await openai.close();
    await entra.close();
  });
  const env = (): Record<string, string> => ({ LOGINKIT_STORE: 'file', AZURE_AUTHORITY_HOST: entra.authorityHost });

  test('the README has the examples byte for byte, under "Google Cloud and Azure" right after "AWS and Bedrock"', async () => {
    const readme = await readDocs();
    for (const example of [AZURE_CONFIG, ...AZURE_SDK_LINES, CODEX_CONFIG])
      assert.ok(readme.includes(example), `README.md lacks: ${example}`);
    const headings = readme.split('\n').filter((line) => line.startsWith('## '));
    assert.equal(headings[headings.indexOf('## AWS and Bedrock') + 1], '## Google Cloud and Azure');
    assert.match(readme, /^## Google Cloud and Azure\n[\s\S]*^### Microsoft Entra ID \(azure\)$/m);
  });

  test('its config.json signs a person in; its SDK lines and Codex auth command reach Azure OpenAI', async () => {
    const kit = createLoginkit({
      home,
      env: env(),
      openBrowser: async (url) => {
        await signInOverHttp(url);
      },
    });
    await kit.login('azure');
    const { azureOpenAI, aiAzure } = await azureClients(kit);
    const completion = await azureOpenAI.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(completion.choices[0]?.message.content, 'hello from Azure OpenAI');
    const { text } = await generateText({ model: aiAzure.chat('gpt-4o'), prompt: 'hi' });
    assert.equal(text, 'hello from Azure OpenAI');

    // Codex runs `command` with `args` and sends what it prints as the bearer token.
    const command = /^command = "(.+)"$/m.exec(CODEX_CONFIG)?.[1];
    const args = JSON.parse(/^args = (\[.*\])$/m.exec(CODEX_CONFIG)?.[1] ?? '[]') as string[];
    assert.equal(command, 'loginkit');
    const printed = await runCliProcess(args, { home, env: env() });
    assert.equal(printed.code, 0, printed.stderr);
    const response = await fetch(`${openai.url}/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${printed.stdout.trim()}`, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(response.status, 200);
  });

  test("the settings table's defaults: the Azure CLI's client, Azure OpenAI's scope in each cloud, AZURE_* variables", async () => {
    const bare = await makeHome();
    await writeFile(join(bare, 'config.json'), JSON.stringify({ providers: { azure: { type: 'azure' } } }));
    const status = async (variables: Record<string, string>) => {
      const result = await runCli(['status', 'azure', '--json'], {
        home: bare,
        env: { LOGINKIT_STORE: 'file', PATH: '/nonexistent', ...variables },
      });
      // Exit 3 where no token is held yet (an Azure CLI login is known only once it ran): the state is still printed.
      assert.ok(result.code === 0 || result.code === 3, result.stderr);
      return (JSON.parse(result.stdout) as { providers: Array<{ azure: Record<string, unknown> }> }).providers[0]?.azure;
    };
    const publicCloud = await status({});
    assert.equal(publicCloud?.['authorityHost'], 'https://login.microsoftonline.com');
    assert.equal(publicCloud?.['scope'], 'https://cognitiveservices.azure.com/.default');
    assert.equal(publicCloud?.['source'], 'azure-cli', 'nothing else in the environment');
    const government = await status({
      AZURE_AUTHORITY_HOST: 'https://login.microsoftonline.us',
      AZURE_TENANT_ID: TENANT,
      AZURE_CLIENT_ID: 'app-1',
      AZURE_FEDERATED_TOKEN_FILE: '/var/run/token',
    });
    assert.equal(government?.['scope'], 'https://cognitiveservices.azure.us/.default');
    assert.equal(government?.['source'], 'workload-identity');
    assert.equal(government?.['tenant'], TENANT);
    assert.equal(government?.['clientId'], 'app-1');
    const china = await status({ AZURE_AUTHORITY_HOST: 'https://login.chinacloudapi.cn' });
    assert.equal(china?.['scope'], 'https://cognitiveservices.azure.cn/.default');

    const plainHttp = await runCli(['token', 'azure'], {
      home: bare,
      env: { LOGINKIT_STORE: 'file', AZURE_AUTHORITY_HOST: 'http://login.example.com' },
    });
    assert.equal(plainHttp.code, 1);
    assert.match(plainHttp.stderr, /AZURE_AUTHORITY_HOST .* must use https/);

    await writeFile(
      join(bare, 'config.json'),
      JSON.stringify({ providers: { azure: { type: 'azure', identity: 'person', tenant: 'contoso.onmicrosoft.com' } } }),
    );
    const person = await runCli(['login', 'azure'], { home: bare, env: { LOGINKIT_STORE: 'file' } });
    assert.equal(person.code, 1);
    assert.match(person.stderr, /needs the directory \(tenant\) ID, not "contoso\.onmicrosoft\.com"/);
    assert.match(person.stderr, /az account show --query tenantId -o tsv/);
  });
});
