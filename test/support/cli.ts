/** Runs the bundled CLI (`dist/cli.js`, built by `npm run build`), or any command, in a child process. */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

export const CLI = resolve(__dirname, '../../dist/cli.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `node dist/cli.js ...args` in `cwd`, with this process's environment changed by `env` (an
 * undefined value removes a variable); resolves when the child has exited.
 */
export function runCli(args: string[], cwd: string, env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return runProcess(process.execPath, [CLI, ...args], cwd, env);
}

/** `command ...args` in `cwd`, with the environment changed as for {@link runCli}; `shell` as spawn's. */
export function runProcess(command: string, args: string[], cwd: string, env: Record<string, string | undefined> = {}, shell = false): Promise<CliResult> {
  return new Promise((done, reject) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, shell });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}
