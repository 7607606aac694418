// Prints the provider table of docs/providers.md, generated from the catalog so the two cannot drift apart.
// Run: node --import tsx scripts/providers-table.mjs   (tsx loads the TypeScript catalog directly)
import { BUILTIN_PROVIDERS } from '../src/providers/catalog.ts';

const METHOD_NAMES = { oauth: 'sign-in (OAuth)', api_key: 'API key' };

/** A Markdown table cell: inline code where asked, pipes escaped. */
function cell(text, { code = false } = {}) {
  if (!text) return '—';
  const escaped = text.replaceAll('|', '\\|');
  return code ? `\`${escaped}\`` : escaped;
}

function validationRequest(apiKey) {
  const base = apiKey.baseUrlRequired ? `{${apiKey.baseUrlEnvVar ?? 'endpoint'}}` : apiKey.defaultBaseUrl;
  const keyHeader = apiKey.header.scheme ? `${apiKey.header.name}: ${apiKey.header.scheme}` : apiKey.header.name;
  const headers = [keyHeader, ...Object.entries(apiKey.extraHeaders ?? {}).map(([name, value]) => `${name}: ${value}`)];
  return `${cell(`${apiKey.validation.method} ${base}${apiKey.validation.path}`, { code: true })} (${headers
    .map((header) => cell(header, { code: true }))
    .join(', ')})`;
}

const rows = ['| Provider | Name | Methods | Key variables | Base URL variable | Key check |', '| --- | --- | --- | --- | --- | --- |'];
for (const provider of BUILTIN_PROVIDERS) {
  const { apiKey } = provider;
  rows.push(
    `| ${cell(provider.id, { code: true })} | [${cell(provider.displayName)}](${provider.docsUrl}) | ${provider.methods
      .map((method) => METHOD_NAMES[method])
      .join(', ')} | ${apiKey ? apiKey.envVars.map((name) => cell(name, { code: true })).join(', ') : '—'} | ${cell(apiKey?.baseUrlEnvVar, {
      code: true,
    })} | ${apiKey ? validationRequest(apiKey) : '—'} |`,
  );
}
process.stdout.write(`${rows.join('\n')}\n`);
