/**
 * *FastLLM: Try It Without a Key* (issue 14 item 4): the whole job without a key or a network. It
 * starts the demo server (src/core/demo/server.ts) in the extension host, on 127.0.0.1, and runs
 * the sample batch (media/samples/demo-prompts.txt) through the normal batch command, with the demo
 * server's URL and a dummy key that is never stored (no secret storage, no setting is touched),
 * and a cache of its own. Then it runs it again: every answer comes from the cache, 0 calls. Last,
 * it opens the results and says what to do next.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { BatchSummary } from '../../core/batch/runBatch';
import type { BatchCommand } from '../batchCommand';
import type { Engine } from '../engine';
import type { Log } from '../log';

/** The key sent to the demo server: not a secret, and never stored. */
const DEMO_KEY = 'fastllm-demo-no-key-needed';

/** What the demo did: for the integration tests. */
export interface DemoResult {
  /** The demo server's base URL (127.0.0.1). */
  url: string;
  first: BatchSummary;
  second: BatchSummary;
  /** Calls the demo server answered during the first and the second run. */
  firstCalls: number;
  secondCalls: number;
  /** The results file, opened in an editor. */
  out: string;
}

export class DemoCommand {
  constructor(
    private readonly extensionPath: string,
    /** Where the demo's copy of the sample, its results and its cache go (the global storage). */
    private readonly folder: string,
    private readonly engine: Engine,
    private readonly batch: BatchCommand,
    private readonly log: Log,
  ) {}

  async run(): Promise<DemoResult | undefined> {
    const mod = this.engine.load();
    const dir = path.join(this.folder, 'demo');
    mkdirSync(dir, { recursive: true });
    const input = path.join(dir, 'demo-prompts.txt');
    copyFileSync(path.join(this.extensionPath, 'media', 'samples', 'demo-prompts.txt'), input);
    // A fresh cache each time, so that the first run shows calls and the second none.
    const cacheFile = path.join(dir, 'demo-cache.sqlite');
    await mod.removeCacheFiles(cacheFile);
    const server = await mod.startDemoServer();
    const cache = await mod.openCache(cacheFile, { onMemoryFallback: () => undefined });
    // Empty also where the cache is in memory (no SQLite library), which outlives the files.
    await cache.clear();
    const provider = mod.createProvider({ apiKey: DEMO_KEY, baseURL: server.url, httpClient: 'fetch' });
    this.log.info(`Demo: the demo server at ${server.url} answers ${input} (its answers are not from a model).`);
    try {
      const options = { confirm: false, provider, cache };
      const first = await this.batch.run(vscode.Uri.file(input), options);
      const firstCalls = server.calls;
      if (!first) return undefined;
      const second = await this.batch.run(vscode.Uri.file(input), options);
      const secondCalls = server.calls - firstCalls;
      if (!second) return undefined;
      const out = second.out;
      await vscode.commands.executeCommand('vscode.open', vscode.Uri.file(out), { preview: false });
      const text =
        `FastLLM demo: ${first.records} prompts answered by a demo server on this machine (not a model) with ${firstCalls} calls; ` +
        `the same file again came from the cache with ${secondCalls}. Next, point FastLLM at your provider: set fastllm.baseUrl and your API key.`;
      this.log.info(text);
      void vscode.window.showInformationMessage(text, 'Set API Key', 'Show Token Stats').then((pick) => {
        if (pick === 'Set API Key') void vscode.commands.executeCommand('fastllm.setApiKey');
        if (pick === 'Show Token Stats') void vscode.commands.executeCommand('fastllm.showStats');
      });
      return { url: server.url, first, second, firstCalls, secondCalls, out };
    } finally {
      provider.close?.();
      await cache.close();
      await server.close();
    }
  }
}
