// The README's one-liners with the real SDKs, against the Vertex AI stand-in that accepts only tokens it issued.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createLoginkit } from '../../src/index.js';
import { type GoogleStandIn, startGoogleStandIn } from '../helpers/google-stand-ins.js';
import { adcFilePath, authorizedUser, makeUserHome, writeJsonFile, writeProvider } from './fixture.js';

describe('Vertex AI SDKs with a Google Cloud provider', () => {
  let google: GoogleStandIn;
  let kit: ReturnType<typeof createLoginkit>;
  before(async () => {
    google = await startGoogleStandIn();
    const { userHome, loginkitHome } = await makeUserHome();
    await writeJsonFile(adcFilePath(userHome), authorizedUser(google, 'rt-sdk'));
    await writeProvider(loginkitHome, 'vertex', { project: 'my-project', location: 'us-east5' });
    kit = createLoginkit({ home: loginkitHome, env: { HOME: userHome }, store: 'memory' });
  });
  after(() => google.close());

  test('@google/genai in Vertex AI mode', async () => {
    const { GoogleGenAI } = await import('@google/genai');
    const ai = new GoogleGenAI({ ...(await kit.vertexGenAIOptions('vertex')), httpOptions: { baseUrl: google.url } });
    const response = await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'hi' });
    assert.equal(response.text, 'hello from vertex');
    assert.deepEqual(google.seen.modelCalls.at(-1), {
      principal: 'person@example.com',
      project: 'my-project',
      location: 'us-east5',
      publisher: 'google',
    });
  });

  test('@anthropic-ai/vertex-sdk', async () => {
    const { AnthropicVertex } = await import('@anthropic-ai/vertex-sdk');
    const client = new AnthropicVertex({ ...(await kit.anthropicVertexOptions('vertex')), baseURL: `${google.url}/v1` });
    const message = await client.messages.create({
      model: 'claude-sonnet-4-5',
      max_tokens: 16,
      messages: [{ role: 'user', content: 'hi' }],
    });
    assert.deepEqual(message.content, [{ type: 'text', text: 'hello from vertex' }]);
    assert.deepEqual(google.seen.modelCalls.at(-1), {
      principal: 'person@example.com',
      project: 'my-project',
      location: 'us-east5',
      publisher: 'anthropic',
    });
  });

  test("the AI SDK's @ai-sdk/google-vertex", async () => {
    const [{ createVertex }, { generateText }] = await Promise.all([import('@ai-sdk/google-vertex'), import('ai')]);
    const options = await kit.googleVertexOptions('vertex');
    const vertex = createVertex({
      ...options,
      baseURL: `${google.url}/v1/projects/${options.project}/locations/${options.location}/publishers/google`,
    });
    const { text } = await generateText({ model: vertex('gemini-2.5-flash'), prompt: 'hi' });
    assert.equal(text, 'hello from vertex');
    assert.equal(google.seen.modelCalls.at(-1)?.principal, 'person@example.com');
  });

  test("google-auth-library's own request() with the auth client", async () => {
    const client = await kit.googleAuthClient('vertex');
    const before = google.stats.refreshGrants;
    const response = await client.request<{ candidates: unknown[] }>({
      url: `${google.url}/v1/projects/my-project/locations/us-east5/publishers/google/models/gemini-2.5-flash:generateContent`,
      method: 'POST',
      data: { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] },
    });
    assert.equal(response.status, 200);
    assert.equal(google.stats.refreshGrants, before, "loginkit's stored token is reused, not refreshed by the library");
  });
});
