// A program run by `loginkit exec --broker openai,anthropic`: the official SDKs, configured by the
// environment alone, call both APIs (streaming too), print what they got as one JSON line, then wait for a
// line on stdin before exiting (so that the test can look at this process while it runs).
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

const results = { pid: process.pid, arrivals: [] };
const openai = new OpenAI({ maxRetries: 0 });
const anthropic = new Anthropic({ maxRetries: 0 });
results.models = (await openai.models.list()).data.map((model) => model.id);
results.chat = (
  await openai.chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] })
).choices[0].message.content;
const stream = await openai.chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }], stream: true });
let streamed = '';
const begun = Date.now();
for await (const chunk of stream) {
  const text = chunk.choices[0]?.delta?.content;
  if (text) {
    streamed += text;
    results.arrivals.push(Date.now() - begun);
  }
}
results.streamed = streamed;
results.message = (
  await anthropic.messages.create({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] })
).content[0].text;
let anthropicStreamed = '';
for await (const event of anthropic.messages.stream({
  model: 'claude-test',
  max_tokens: 10,
  messages: [{ role: 'user', content: 'hi' }],
})) {
  if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') anthropicStreamed += event.delta.text;
}
results.anthropicStreamed = anthropicStreamed;
try {
  await new OpenAI({
    maxRetries: 0,
    baseURL: process.env.OPENAI_BASE_URL.replace(/\/openai$/, '/openai/..%2f..%2fanthropic'),
  }).models.list();
  results.escape = 'forwarded';
} catch (error) {
  results.escape = error.status;
}
process.stdout.write(`${JSON.stringify(results)}\n`);
process.stdin.once('data', () => process.exit(0));
