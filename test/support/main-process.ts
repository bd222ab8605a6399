import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import type { Env } from '../../src/config/app-config';

/** The built server's entry point, as operators run its commands. */
export const MAIN = resolve(__dirname, '../../dist/main.js');

export interface Ran {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node dist/main.js …` without blocking this process (the app under test lives here). */
export function runMain(args: string[], env: Env): Promise<Ran> {
  return new Promise((done, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => done({ status, stdout, stderr }));
  });
}
