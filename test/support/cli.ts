import { execFile } from 'node:child_process';
import { join } from 'node:path';

/**
 * Runs `npm run cli -- <args>` from dist/, asynchronously: a synchronous spawn would block the test's
 * event loop, and its idle keep-alive connections to the apps would be reused after the server closed them.
 */
export function runCli(
  args: string[],
  env: Record<string, string>,
  timeoutMs = 120_000,
): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [
        '-r',
        join(__dirname, '../../scripts/register-paths.js'),
        join(__dirname, '../../dist/apps/cli/src/main.js'),
        ...args,
      ],
      { env: { ...process.env, ...env }, encoding: 'utf8', timeout: timeoutMs },
      (error, stdout, stderr) => resolve({ status: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}
