// What the numbers were measured on.
import { cpus, totalmem, release } from 'node:os';
import { readFile } from 'node:fs/promises';
import { adminPgUrl, withPg } from './context.mjs';
import { run } from './util.mjs';

async function version(cmd, args, pattern) {
  try {
    const { stdout, stderr } = await run(cmd, args);
    const m = pattern.exec(stdout + stderr);
    return m ? m[1] : (stdout + stderr).trim().split('\n')[0];
  } catch {
    return 'not found';
  }
}

export async function machineInfo() {
  const cpu = cpus();
  let osName = 'unknown';
  try {
    osName = /^PRETTY_NAME="?([^"\n]+)/m.exec(await readFile('/etc/os-release', 'utf8'))[1];
  } catch {
    // keep unknown
  }
  return {
    cores: cpu.length,
    cpu_model: cpu[0]?.model ?? 'unknown',
    memory_gib: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: osName,
    kernel: release(),
    node: process.version,
    postgresql: await withPg(
      adminPgUrl(),
      async (c) => (await c.query('SHOW server_version')).rows[0].server_version,
    ).catch(() => 'unknown'),
    // A test machine may run without it; the scale suite vacuums after growing when it is off.
    postgresql_autovacuum: await withPg(
      adminPgUrl(),
      async (c) => (await c.query('SHOW autovacuum')).rows[0].autovacuum,
    ).catch(() => 'unknown'),
    redis: await version('redis-server', ['--version'], /v=(\S+)/),
    nginx: await version('nginx', ['-v'], /nginx\/(\S+)/),
    curl: await version('curl', ['--version'], /curl (\S+)/),
    sha256sum: await version('sha256sum', ['--version'], /\(GNU coreutils\) (\S+)/),
    openssl: await version('openssl', ['version'], /OpenSSL (\S+)/),
  };
}
