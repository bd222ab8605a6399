import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import type { AppConfig } from '../config/app-config';

export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly certFile: string;
  readonly generated: boolean;
}

/**
 * The configured certificate, else a self-signed one generated once in the data directory (for
 * development and tests: subjectAltName localhost, 127.0.0.1 and ::1).
 */
export async function loadTlsMaterial(config: AppConfig): Promise<TlsMaterial> {
  if (config.http.tlsCertFile && config.http.tlsKeyFile) {
    return {
      cert: await readFile(config.http.tlsCertFile),
      key: await readFile(config.http.tlsKeyFile),
      certFile: config.http.tlsCertFile,
      generated: false,
    };
  }
  const dir = join(config.dataDir, 'tls');
  const certFile = join(dir, 'self-signed.crt');
  const keyFile = join(dir, 'self-signed.key');
  if (!existsSync(certFile) || !existsSync(keyFile)) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const notBefore = new Date(Date.now() - 60_000);
    const pems = await generate([{ name: 'commonName', value: 'imgsrv self-signed' }], {
      keyType: 'ec',
      curve: 'P-256',
      algorithm: 'sha256',
      notBeforeDate: notBefore,
      notAfterDate: new Date(notBefore.getTime() + 825 * 86_400_000),
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
        { name: 'extKeyUsage', serverAuth: true },
        {
          name: 'subjectAltName',
          altNames: [
            { type: 2, value: 'localhost' },
            { type: 7, ip: '127.0.0.1' },
            { type: 7, ip: '::1' },
          ],
        },
      ],
    });
    // Write both to temporary names first, then rename: a crash never leaves half a pair.
    const suffix = `.${process.pid}.tmp`;
    await writeFile(keyFile + suffix, pems.private, { mode: 0o600 });
    await writeFile(certFile + suffix, pems.cert, { mode: 0o644 });
    await rename(keyFile + suffix, keyFile);
    await rename(certFile + suffix, certFile);
    return {
      cert: Buffer.from(pems.cert),
      key: Buffer.from(pems.private),
      certFile,
      generated: true,
    };
  }
  return {
    cert: await readFile(certFile),
    key: await readFile(keyFile),
    certFile,
    generated: false,
  };
}
