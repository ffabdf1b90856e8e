/**
 * Small sample input files, one per format, for *FastLLM: New Prompt File…*: each shows what a
 * row of that format looks like, and each reads without an invalid row (a unit test checks).
 */
import type { InputFormat } from './readers';

export const SAMPLE_INPUTS: Record<InputFormat, { description: string; text: string }> = {
  txt: {
    description: 'one prompt per line',
    text: ['Explain what a token is in one sentence.', 'Give three tips for writing a good prompt.', 'Translate "good morning" into French, Spanish and German.', 'Summarise why caching LLM answers saves money.', 'Write a haiku about rate limits.'].join('\n') + '\n',
  },
  jsonl: {
    description: 'one request per line: a prompt with options, or chat messages',
    text:
      [
        { custom_id: 'greeting', prompt: 'Say hello in five languages.' },
        { custom_id: 'short', prompt: 'What is an embedding? One sentence.', temperature: 0 },
        { custom_id: 'pirate', prompt: 'Describe the sea.', system: 'You are a pirate. Answer in two sentences.' },
        { custom_id: 'chat', messages: [{ role: 'system', content: 'You answer with one word.' }, { role: 'user', content: 'The colour of the sky on a clear day?' }] },
      ]
        .map((r) => JSON.stringify(r))
        .join('\n') + '\n',
  },
  csv: {
    description: 'a prompt column, with an id and any other columns',
    text: ['custom_id,prompt,topic', 'q1,"Explain caching in one sentence.",caching', 'q2,"What does a 429 status mean, in one sentence?",rate limits', 'q3,"Name two ways to make a batch of prompts cheaper.",cost'].join('\n') + '\n',
  },
};
