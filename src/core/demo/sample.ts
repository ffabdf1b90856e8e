/**
 * The sample batch of the demo: `media/samples/demo-prompts.txt`, a .txt file of prompts (one per
 * line) that ships with the extension (beside dist/) and with the CLI's npm package (beside cli.js).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const DEMO_SAMPLE = 'demo-prompts.txt';

/**
 * The sample's path, looked for from the running bundle's folder `from` (dist/ in the repository
 * and the VSIX, the package folder of the npm package, src/cli under tsx).
 * @throws when it is not there: the package was built without it.
 */
export function demoSamplePath(from: string): string {
  const candidates = [
    join(from, 'samples', DEMO_SAMPLE), // the npm package: <pkg>/cli.js, <pkg>/samples/
    join(from, '..', 'media', 'samples', DEMO_SAMPLE), // dist/*.js in the repository and the VSIX
    join(from, '..', '..', 'media', 'samples', DEMO_SAMPLE), // src/cli, src/vscode under tsx
  ];
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error(`the demo's sample batch ${DEMO_SAMPLE} is missing (looked in ${candidates.join(', ')})`);
  return found;
}
