import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import { architectureMatches } from './architecture';
import { IncusMetadataError, parseMetadataYaml, type IncusMetadataErrorCode } from './metadata';
import { IncusMetadataProbe, parseIncusMetadata } from './metadata-tarball';

const lzma = require('lzma-native') as {
  compress(data: Buffer, options: { preset: number }): Promise<Buffer>;
};

const MIB = 1024 * 1024;

interface TarEntry {
  readonly name: string;
  readonly content?: string | Buffer;
  readonly type?: 'file' | 'directory';
}

async function tarOf(entries: readonly TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const out = readAll(pack);
  for (const { name, content, type = 'file' } of entries) {
    await new Promise<void>((resolve, reject) => {
      const done = (error?: Error | null) => (error ? reject(error) : resolve());
      if (type === 'directory') pack.entry({ name, type, mode: 0o755 }, done);
      else pack.entry({ name, type, mode: 0o644 }, content ?? '', done);
    });
  }
  pack.finalize();
  return out;
}

async function tarXz(entries: readonly TarEntry[]): Promise<Buffer> {
  return lzma.compress(await tarOf(entries), { preset: 1 });
}

async function readAll(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** `data` in chunks of `size` bytes, counting how many chunks were pulled. */
function chunked(data: Buffer, size = 64 * 1024): { stream: Readable; pulled: () => number } {
  let pulled = 0;
  const stream = Readable.from(
    (function* () {
      for (let at = 0; at < data.length; at += size) {
        pulled += 1;
        yield data.subarray(at, at + size);
      }
    })(),
  );
  return { stream, pulled: () => pulled };
}

function parse(data: Buffer, options = {}, size?: number) {
  return parseIncusMetadata(chunked(data, size).stream, options);
}

async function refusal(
  promise: Promise<unknown>,
  code: IncusMetadataErrorCode,
): Promise<IncusMetadataError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(IncusMetadataError);
  expect(error).toMatchObject({ code, name: 'IncusMetadataError' });
  return error as IncusMetadataError;
}

function hashingSink(): { sink: Writable; digest: () => string } {
  const hash = createHash('sha256');
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback();
    },
  });
  return { sink, digest: () => hash.digest('hex') };
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

const METADATA_YAML = [
  'architecture: x86_64',
  'creation_date: 1700000000',
  'properties:',
  '  architecture: amd64',
  '  description: Debian bookworm amd64 (20231114_05:24)',
  '  os: debian',
  '  release: bookworm',
  '  serial: "20231114_05:24"',
  '  variant: default',
  'templates:',
  '  /etc/hostname:',
  '    when:',
  '      - create',
  '    template: hostname.tpl',
  '',
].join('\n');

const EXPECTED = {
  architecture: 'x86_64',
  creation_date: 1700000000,
  properties: {
    architecture: 'amd64',
    description: 'Debian bookworm amd64 (20231114_05:24)',
    os: 'debian',
    release: 'bookworm',
    serial: '20231114_05:24',
    variant: 'default',
  },
};

const INCUS_TARBALL: TarEntry[] = [
  { name: 'metadata.yaml', content: METADATA_YAML },
  { name: 'templates', type: 'directory' },
  { name: 'templates/hostname.tpl', content: '{{ container.name }}\n' },
];

describe('parseIncusMetadata', () => {
  it('reads metadata.yaml from an incus.tar.xz', async () => {
    const metadata = await parse(await tarXz(INCUS_TARBALL));
    expect(metadata).toEqual(EXPECTED);
    expect(metadata).not.toHaveProperty('expiry_date');
  });

  it('finds ./metadata.yaml behind other entries', async () => {
    const data = await tarXz([
      { name: './', type: 'directory' },
      { name: './a-rootfs.bin', content: randomBytes(300 * 1024) },
      { name: './metadata.yaml', content: `${METADATA_YAML}expiry_date: 1800000000\n` },
    ]);
    expect(await parse(data)).toEqual({ ...EXPECTED, expiry_date: 1800000000 });
  });

  it('takes the tarball one byte at a time', async () => {
    expect(await parse(await tarXz(INCUS_TARBALL), {}, 1)).toEqual(EXPECTED);
  });

  it('stops reading the stream once metadata.yaml is parsed', async () => {
    const data = await tarXz([...INCUS_TARBALL, { name: 'rest.bin', content: randomBytes(MIB) }]);
    const chunkSize = 16 * 1024;
    const total = Math.ceil(data.length / chunkSize);
    const source = chunked(data, chunkSize);
    expect(await parseIncusMetadata(source.stream)).toEqual(EXPECTED);
    expect(source.stream.destroyed).toBe(true);
    // Readable.from reads at most its high-water mark (16 chunks) ahead of the parser.
    expect(source.pulled()).toBeLessThan(total / 2);
  });

  it('parses many tarballs at once, each to its own metadata', async () => {
    const arches = ['x86_64', 'aarch64', 'riscv64', 's390x', 'ppc64le', 'armv7l'];
    const tarballs = await Promise.all(
      arches.map((arch) =>
        tarXz([
          { name: 'a.bin', content: randomBytes(64 * 1024) },
          { name: 'metadata.yaml', content: `architecture: ${arch}\ncreation_date: 1\n` },
        ]),
      ),
    );
    const parsed = await Promise.all(tarballs.map((data) => parse(data, {}, 4096)));
    expect(parsed.map((m) => m.architecture)).toEqual(arches);
  });

  it('refuses text chunks as a programming error, not as a bad tarball', async () => {
    const error = await parseIncusMetadata(Readable.from(['metadata.yaml'])).catch((e) => e);
    expect(error).toBeInstanceOf(TypeError);
  });

  it('accepts a bigger metadata.yaml when allowed', async () => {
    const yaml = `${METADATA_YAML}# ${'x'.repeat(2 * MIB)}\n`;
    const data = await tarXz([{ name: 'metadata.yaml', content: yaml }]);
    await refusal(parse(data), 'METADATA_TOO_LARGE');
    expect(await parse(data, { maxMetadataBytes: 3 * MIB })).toEqual(EXPECTED);
  });

  describe('refuses', () => {
    it('bytes that are not xz: garbage, empty, gzip, a bare tar, a truncated magic', async () => {
      const tarball = await tarOf(INCUS_TARBALL);
      const xz = await tarXz(INCUS_TARBALL);
      for (const data of [
        Buffer.from('this is not an image'),
        Buffer.alloc(0),
        gzipSync(tarball),
        tarball,
        xz.subarray(0, 5),
      ]) {
        const error = await refusal(parse(data), 'NOT_XZ');
        expect(error.message).toBe(
          'The metadata tarball is not xz-compressed; Incus expects an incus.tar.xz.',
        );
      }
    });

    it('xz data that does not hold a tar', async () => {
      await refusal(parse(await lzma.compress(randomBytes(4096), { preset: 1 })), 'NOT_TAR');
      await refusal(parse(await lzma.compress(Buffer.alloc(100, 1), { preset: 1 })), 'NOT_TAR');
    });

    it('truncated and corrupt xz data', async () => {
      const data = await tarXz([
        { name: 'a.bin', content: randomBytes(256 * 1024) },
        { name: 'metadata.yaml', content: METADATA_YAML },
      ]);
      const truncated = await refusal(parse(data.subarray(0, data.length / 2)), 'XZ_INVALID');
      expect(truncated.message).toBe('The xz data is corrupt or truncated.');

      const corrupt = Buffer.from(data);
      for (let at = 1000; at < 1100; at += 1) corrupt[at] ^= 0xff;
      await refusal(parse(corrupt), 'XZ_INVALID');
    });

    it('a tarball without metadata.yaml at its root', async () => {
      const error = await refusal(
        parse(
          await tarXz([
            { name: 'templates', type: 'directory' },
            { name: 'rootfs/metadata.yaml', content: METADATA_YAML },
            { name: 'metadata.yaml.orig', content: METADATA_YAML },
          ]),
        ),
        'METADATA_MISSING',
      );
      expect(error.message).toBe('The metadata tarball has no metadata.yaml at its root.');
      await refusal(parse(await tarXz([])), 'METADATA_MISSING');
      await refusal(
        parse(await tarXz([{ name: 'metadata.yaml', type: 'directory' }])),
        'METADATA_MISSING',
      );
    });

    it('a metadata.yaml over the size limit', async () => {
      const data = await tarXz([{ name: 'metadata.yaml', content: METADATA_YAML }]);
      const error = await refusal(parse(data, { maxMetadataBytes: 100 }), 'METADATA_TOO_LARGE');
      expect(error.message).toBe('metadata.yaml is larger than 100 bytes.');
      const huge = await tarXz([{ name: 'metadata.yaml', content: Buffer.alloc(MIB + 1, 0x20) }]);
      expect((await refusal(parse(huge), 'METADATA_TOO_LARGE')).message).toBe(
        'metadata.yaml is larger than 1 MiB.',
      );
    });

    it('a metadata.yaml that is not YAML, not UTF-8 or lacks the architecture', async () => {
      const withYaml = async (content: string | Buffer) =>
        parse(await tarXz([{ name: 'metadata.yaml', content }]));
      await refusal(withYaml('architecture: [x86_64\ncreation_date: 1\n'), 'METADATA_YAML_INVALID');
      await refusal(withYaml(Buffer.from([0x61, 0x3a, 0x20, 0xc3, 0x28])), 'METADATA_YAML_INVALID');
      const error = await refusal(
        withYaml('creation_date: 1700000000\n'),
        'METADATA_FIELD_INVALID',
      );
      expect(error.field).toBe('architecture');
    });
  });
});

describe('parseMetadataYaml', () => {
  const fieldError = (text: string) => {
    try {
      parseMetadataYaml(text);
    } catch (error) {
      expect(error).toBeInstanceOf(IncusMetadataError);
      return error as IncusMetadataError;
    }
    throw new Error(`accepted: ${text}`);
  };

  it('keeps property values as written, as Incus reads them into strings', () => {
    const metadata = parseMetadataYaml(
      [
        'architecture: aarch64',
        'creation_date: 1700000000',
        'properties:',
        '  release: 3.10',
        '  serial: 20240101',
        '  hex: 0x1F',
        '  flag: true',
        '  empty:',
        '  quoted: "3.10"',
        '  __proto__: kept',
        '  12: twelve',
      ].join('\n'),
    );
    expect(metadata.properties).toEqual({
      release: '3.10',
      serial: '20240101',
      hex: '0x1F',
      flag: 'true',
      empty: '',
      quoted: '3.10',
      ['__proto__']: 'kept',
      '12': 'twelve',
    });
    expect(Object.getPrototypeOf(metadata.properties)).toBe(Object.prototype);
  });

  it('resolves aliases and allows absent or empty properties', () => {
    expect(
      parseMetadataYaml('architecture: &a riscv64\ncreation_date: 5\nproperties:\n  arch: *a\n'),
    ).toEqual({ architecture: 'riscv64', creation_date: 5, properties: { arch: 'riscv64' } });
    expect(parseMetadataYaml('architecture: s390x\ncreation_date: 0\nproperties:\n')).toEqual({
      architecture: 's390x',
      creation_date: 0,
      properties: {},
    });
  });

  it.each([
    ['a list', '- architecture: x86_64\n', 'METADATA_YAML_INVALID', undefined],
    [
      'two documents',
      'architecture: a\n---\narchitecture: b\n',
      'METADATA_YAML_INVALID',
      undefined,
    ],
    ['a duplicate key', 'architecture: a\narchitecture: b\n', 'METADATA_YAML_INVALID', undefined],
    ['an empty file', '', 'METADATA_YAML_INVALID', undefined],
    ['a numeric architecture', 'architecture: 64\ncreation_date: 1\n', null, 'architecture'],
    ['a list architecture', 'architecture: [a]\ncreation_date: 1\n', null, 'architecture'],
    ['a blank architecture', 'architecture: " "\ncreation_date: 1\n', null, 'architecture'],
    ['no creation_date', 'architecture: x86_64\n', null, 'creation_date'],
    ['a quoted creation_date', 'architecture: x\ncreation_date: "1"\n', null, 'creation_date'],
    ['a negative creation_date', 'architecture: x\ncreation_date: -1\n', null, 'creation_date'],
    [
      'a fractional expiry_date',
      'architecture: x\ncreation_date: 1\nexpiry_date: 1.5\n',
      null,
      'expiry_date',
    ],
    ['list properties', 'architecture: x\ncreation_date: 1\nproperties: [a]\n', null, 'properties'],
    [
      'nested properties',
      'architecture: x\ncreation_date: 1\nproperties:\n  a:\n    b: c\n',
      null,
      'properties',
    ],
  ])('refuses %s', (_name, text, code, field) => {
    const error = fieldError(text);
    expect(error.code).toBe(code ?? 'METADATA_FIELD_INVALID');
    expect(error.field).toBe(field);
  });

  it('names the line of a YAML error without quoting the library', () => {
    expect(fieldError('architecture: x\n  bad: [\n').message).toMatch(
      /^metadata\.yaml is not valid YAML \([A-Z_]+ at line \d+\)\.$/,
    );
  });
});

describe('IncusMetadataProbe', () => {
  it('passes every byte on while it parses', async () => {
    const data = await tarXz([...INCUS_TARBALL, { name: 'rest.bin', content: randomBytes(MIB) }]);
    const probe = new IncusMetadataProbe();
    const { sink, digest } = hashingSink();
    await pipeline(chunked(data, 16 * 1024).stream, probe, sink);
    expect(digest()).toBe(sha256(data));
    expect(await probe.metadata).toEqual(EXPECTED);
  });

  it('settles metadata by the time the pipeline finishes, even when that needs the last byte', async () => {
    const data = await tarXz([{ name: 'a.bin', content: randomBytes(200 * 1024) }]);
    const probe = new IncusMetadataProbe();
    let settled = false;
    probe.metadata.catch(() => (settled = true));
    await pipeline(chunked(data).stream, probe, hashingSink().sink);
    await Promise.resolve();
    expect(settled).toBe(true);
    await refusal(probe.metadata, 'METADATA_MISSING');
  });

  it('passes a bad tarball on untouched and rejects only metadata', async () => {
    const data = gzipSync(await tarOf(INCUS_TARBALL));
    const probe = new IncusMetadataProbe();
    const { sink, digest } = hashingSink();
    await pipeline(chunked(data, 7).stream, probe, sink);
    expect(digest()).toBe(sha256(data));
    await refusal(probe.metadata, 'NOT_XZ');
  });

  it('rejects metadata with the stream error when the source fails', async () => {
    const data = await tarXz([
      { name: 'a.bin', content: randomBytes(256 * 1024) },
      { name: 'metadata.yaml', content: METADATA_YAML },
    ]);
    const failure = Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
    const source = Readable.from(
      (function* () {
        yield data.subarray(0, 64 * 1024);
        throw failure;
      })(),
    );
    const probe = new IncusMetadataProbe();
    await expect(pipeline(source, probe, hashingSink().sink)).rejects.toBe(failure);
    await expect(probe.metadata).rejects.toBe(failure);
  });
});

describe('IncusMetadataError', () => {
  it('is an Error with a code, a field and a message for the user', () => {
    const error = new IncusMetadataError('METADATA_FIELD_INVALID', 'bad', 'architecture');
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({
      name: 'IncusMetadataError',
      code: 'METADATA_FIELD_INVALID',
      field: 'architecture',
      message: 'bad',
    });
  });
});

describe('architectureMatches', () => {
  it.each([
    ['amd64', 'x86_64'],
    ['arm64', 'aarch64'],
    ['i386', 'i686'],
    ['armhf', 'armv7l'],
    ['ppc64el', 'ppc64le'],
    ['loong64', 'loongarch64'],
    ['s390x', 's390x'],
    ['riscv64', 'riscv64'],
    ['armel', 'armv6l'],
    ['generic_64', 'amd64'],
  ])('treats %s and %s as one architecture, both ways', (a, b) => {
    expect(architectureMatches(a, b)).toBe(true);
    expect(architectureMatches(b, a)).toBe(true);
  });

  it.each([
    ['amd64', 'aarch64'],
    ['i686', 'x86_64'],
    ['armhf', 'arm64'],
    ['ppc64', 'ppc64le'],
    ['armv8l', 'aarch64'],
    ['AMD64', 'x86_64'],
    ['sparc', 'x86_64'],
  ])('tells %s from %s', (a, b) => {
    expect(architectureMatches(a, b)).toBe(false);
    expect(architectureMatches(b, a)).toBe(false);
  });

  it('matches names Incus does not know only to themselves', () => {
    expect(architectureMatches('sparc64', 'sparc64')).toBe(true);
    expect(architectureMatches('', '')).toBe(true);
  });
});
