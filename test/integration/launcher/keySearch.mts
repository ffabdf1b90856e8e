/**
 * After both suites: no file the extension or VS Code wrote for it may hold a test API key (all
 * start with the launcher's KEY_PREFIX): settings, workspaces and results, the cache in the
 * workspace storage, the extension's logs. A search that found nothing because there was
 * nothing to search is a failure too.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

export interface KeySearch {
  ok: boolean;
  /** One line for the launcher's log. */
  message: string;
}

/**
 * Searches the run folder's user data, workspaces and extra windows for `keyPrefix`. It must
 * have searched the extension's log and the user settings, and (unless the run was `filtered`
 * by FASTLLM_IT_GREP, which may never open one) a cache file.
 */
export function searchForKeys(runDir: string, keyPrefix: string, options: { filtered: boolean }): KeySearch {
  const places = ['user-data/User', 'user-data/logs', 'ws-host', 'ws-ui', 'windows'].map((p) => path.join(runDir, p));
  const hits: string[] = [];
  const searched: string[] = [];
  for (const place of places) {
    if (!existsSync(place)) continue;
    for (const entry of readdirSync(place, { withFileTypes: true, recursive: true })) {
      if (!entry.isFile()) continue;
      const file = path.join(entry.parentPath, entry.name);
      let bytes: Buffer;
      try {
        bytes = readFileSync(file);
      } catch (e) {
        // Deleted between the listing and the read (a cache journal emptied by an extension host
        // still shutting down): gone files hold nothing.
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw e;
      }
      searched.push(file);
      if (bytes.includes(keyPrefix)) hits.push(path.relative(runDir, file));
    }
  }
  if (hits.length > 0) return { ok: false, message: `FAIL: a test API key was written to: ${hits.join(', ')}` };
  const expected: [string, RegExp][] = [
    ['the extension log (FastLLM.log)', /[\\/]FastLLM\.log$/],
    ['the user settings', /[\\/]User[\\/]settings\.json$/],
  ];
  if (!options.filtered) expected.push(['a cache file', /fastllm-cache\.sqlite$/]);
  const missing = expected.filter(([, re]) => !searched.some((f) => re.test(f))).map(([what]) => what);
  if (missing.length > 0) {
    return { ok: false, message: `FAIL: the search for test API keys found no ${missing.join(', no ')} among ${searched.length} files: it searched nothing that matters` };
  }
  return { ok: true, message: `no test API key in settings, workspaces, results, cache or logs (${searched.length} files searched)` };
}
