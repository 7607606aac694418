// The Entra ID examples the README shows, byte for byte: readme.test.ts checks that the README has them and runs them.
import { createAzure } from '@ai-sdk/azure';
import { AzureOpenAI } from 'openai';
import type { Loginkit } from '../../src/index.js';

/** config.json of "Microsoft Entra ID (azure)". */
export const AZURE_CONFIG =
  '{ "providers": { "azure": { "type": "azure", "tenant": "00000000-0000-0000-0000-000000000000", "endpoint": "https://my-resource.openai.azure.com" } } }';

/** The SDK clients, made with the README's lines. */
export async function azureClients(kit: Loginkit) {
  const azureOpenAI = new AzureOpenAI({ ...(await kit.azureOpenAIOptions('azure')), apiVersion: '2024-10-21' });
  const aiAzure = createAzure(await kit.azureAISdkSettings('azure'));
  return { azureOpenAI, aiAzure };
}

/** The lines above, as text. */
export const AZURE_SDK_LINES = [
  "const azureOpenAI = new AzureOpenAI({ ...(await kit.azureOpenAIOptions('azure')), apiVersion: '2024-10-21' });",
  "const aiAzure = createAzure(await kit.azureAISdkSettings('azure'));",
] as const;

/** Codex's `~/.codex/config.toml`: its model provider runs `loginkit token azure` for the bearer token. */
export const CODEX_CONFIG = `model_provider = "azure-entra"

[model_providers.azure-entra]
name = "Azure OpenAI (Entra ID)"
base_url = "https://my-resource.openai.azure.com/openai/v1"
wire_api = "responses"

[model_providers.azure-entra.auth]
command = "loginkit"
args = ["token", "azure"]
timeout_ms = 10000
refresh_interval_ms = 300000`;
