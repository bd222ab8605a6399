import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkCaFile, checkServerUrl, configPath, resolveConnection } from './config';

const dir = mkdtempSync(join(tmpdir(), 'imgsrv-cli-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A self-signed certificate made by openssl, as an operator would make one. */
function certificateFile(): string {
  const cert = join(dir, 'ca.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      '/CN=imgsrv-test',
      '-days',
      '1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  return cert;
}

describe('resolveConnection', () => {
  const ca = certificateFile();
  const file = { url: 'https://file.example', token: 'file-token', ca_file: ca };

  it('prefers flags, then the environment, then the config file', () => {
    expect(resolveConnection({}, {}, file)).toEqual({
      url: 'https://file.example',
      token: 'file-token',
      caFile: ca,
    });
    expect(
      resolveConnection({}, { IMGSRV_URL: 'https://env.example/', IMGSRV_TOKEN: 'env' }, file),
    ).toMatchObject({ url: 'https://env.example', token: 'env' });
    expect(
      resolveConnection(
        { url: 'http://flag.example', token: 'flag' },
        { IMGSRV_TOKEN: 'env' },
        file,
      ),
    ).toMatchObject({ url: 'http://flag.example', token: 'flag', caFile: ca });
  });

  it('refuses a missing or non-http URL as a usage error', () => {
    expect(() => resolveConnection({}, {}, {})).toThrow(/no server/);
    expect(() => resolveConnection({ url: 'ftp://x' }, {}, {})).toThrow(/http/);
  });
});

describe('checkServerUrl', () => {
  it.each([
    ['images.example.org', /has no scheme: write https:\/\/images\.example\.org/],
    ['images.example.org:8443', /has no scheme/],
    ['ftp://images.example.org', /must start with https:\/\/ or http:\/\//],
    ['https://any:imgsrv_x@images.example.org', /carries credentials/],
    [
      'https://images.example.org/v1',
      /server's root: https:\/\/images\.example\.org, without \/v1/,
    ],
    ['https://images.example.org/?x=1', /query or fragment/],
    ['not a url at all', /is not a URL/],
  ])('refuses %s, saying why', (url, message) => {
    expect(() => checkServerUrl(url)).toThrow(message);
  });

  it('accepts a server root, with or without a path prefix', () => {
    expect(() => checkServerUrl('https://images.example.org')).not.toThrow();
    expect(() => checkServerUrl('http://127.0.0.1:8080/imgsrv/')).not.toThrow();
  });
});

describe('checkCaFile', () => {
  it('accepts a PEM certificate', () => {
    expect(() => checkCaFile(certificateFile())).not.toThrow();
  });

  it('refuses a missing, empty, non-PEM or broken file at once, naming it', () => {
    const empty = join(dir, 'empty.pem');
    writeFileSync(empty, '');
    const key = join(dir, 'key-only.pem');
    writeFileSync(key, '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
    const broken = join(dir, 'broken.pem');
    writeFileSync(
      broken,
      '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n',
    );
    expect(() => checkCaFile(join(dir, 'nope.pem'))).toThrow(/nope\.pem: ENOENT/);
    expect(() => checkCaFile(empty)).toThrow(/holds no PEM certificate .*it is empty/);
    expect(() => checkCaFile(key)).toThrow(/holds no PEM certificate/);
    expect(() => checkCaFile(broken)).toThrow(/does not parse/);
  });
});

describe('configPath', () => {
  it('honours IMGSRV_CONFIG, then XDG_CONFIG_HOME, then HOME', () => {
    expect(configPath({ IMGSRV_CONFIG: '/a/c.json' })).toBe('/a/c.json');
    expect(configPath({ XDG_CONFIG_HOME: '/x' })).toBe('/x/imgsrv/config.json');
    expect(configPath({ HOME: '/h' })).toBe('/h/.config/imgsrv/config.json');
  });
});
