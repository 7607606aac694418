// The one line per SDK that the README shows, type-checked under `strict` by `tsc` over test/ and run by
// sdk.test.ts against the stand-ins. Keep each line identical to the README's (readme.test.ts checks).
import { createAnthropic } from '@ai-sdk/anthropic';
import { createOpenAI } from '@ai-sdk/openai';
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import type { Loginkit } from '../../src/index.js';

/** Every SDK client, made with loginkit's one line each. */
export async function sdkClients(kit: Loginkit) {
  const openai = new OpenAI(await kit.openaiOptions());
  const anthropic = new Anthropic(await kit.anthropicOptions());
  const gemini = new GoogleGenAI(await kit.googleGenAIOptions());
  const aiOpenAI = createOpenAI(await kit.aiSdkOptions('openai'));
  const aiAnthropic = createAnthropic(await kit.aiSdkOptions('anthropic'));
  return { openai, anthropic, gemini, aiOpenAI, aiAnthropic };
}

/** The README lines above, as text. */
export const SDK_LINES = [
  'const openai = new OpenAI(await kit.openaiOptions());',
  'const anthropic = new Anthropic(await kit.anthropicOptions());',
  'const gemini = new GoogleGenAI(await kit.googleGenAIOptions());',
  "const aiOpenAI = createOpenAI(await kit.aiSdkOptions('openai'));",
  "const aiAnthropic = createAnthropic(await kit.aiSdkOptions('anthropic'));",
] as const;
