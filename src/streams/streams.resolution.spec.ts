import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { incusArchitectureName, streamsArchitecture } from '../incus/architecture';
import {
  clientAliases,
  clientImages,
  getAlias,
  getAliasArchitectures,
  getImage,
  getImageAliasType,
  type ClientAlias,
  type ClientImage,
} from './incus-resolution';
import {
  itemPath,
  METADATA_FILENAME,
  projectStreams,
  type ProjectionInput,
} from './streams.projector';

/**
 * Property: for any catalog — versions with any mix of VM and container images over several
 * architectures, the same bytes shipped again by later versions and by other images, aliases
 * created, moved and deleted, publishes in the same minute — every name the client can be asked
 * for resolves, per instance type and architecture, to exactly the image the named version ships,
 * or to nothing; every fingerprint is listed once; and no name is left over.
 */

type ImageType = 'container' | 'virtual-machine';
const TYPES: readonly ImageType[] = ['container', 'virtual-machine'];
const IMAGES = ['alpha', 'beta', 'gamma'];
const ALIASES = ['latest', 'stable', 'edge'];
const ARCHES = ['amd64', 'x86_64', 'arm64', 'riscv64'];
const VARIANTS = ['default', 'default', 'default', 'cloud'];
const NATIVE = 'x86_64';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

interface Build {
  readonly type: ImageType;
  readonly arch: string;
  /** The image's serial from its metadata, or null (an old row). */
  readonly serial: string | null;
}

type Op =
  | { kind: 'publish'; image: number; builds: { build: number; variant: string }[]; gap: number }
  | { kind: 'alias'; image: number; alias: string; pick: number }
  | { kind: 'unalias'; image: number; alias: string };

interface Shipped {
  readonly fingerprint: string;
  readonly build: number;
  readonly type: ImageType;
  readonly arch: string;
  readonly variant: string;
}

interface Version {
  readonly image: string;
  readonly name: string;
  readonly publishedAt: Date;
  readonly shipped: Shipped[];
}

const buildArb: fc.Arbitrary<Build> = fc.record({
  type: fc.constantFrom(...TYPES),
  arch: fc.constantFrom(...ARCHES),
  serial: fc.option(
    fc.integer({ min: 1, max: 28 }).map((d) => `202611${String(d).padStart(2, '0')}_01:00`),
    { nil: null },
  ),
});

const opArb = (builds: number): fc.Arbitrary<Op> =>
  fc.oneof(
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('publish' as const),
        image: fc.nat({ max: IMAGES.length - 1 }),
        builds: fc.array(
          fc.record({
            build: fc.nat({ max: builds - 1 }),
            variant: fc.constantFrom(...VARIANTS),
          }),
          { minLength: 1, maxLength: 4 },
        ),
        // 0: the same instant; 20 s: the same minute; a minute; a day.
        gap: fc.constantFrom(0, 20_000, 60_000, 86_400_000),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('alias' as const),
        image: fc.nat({ max: IMAGES.length - 1 }),
        alias: fc.constantFrom(...ALIASES),
        pick: fc.nat(),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('unalias' as const),
        image: fc.nat({ max: IMAGES.length - 1 }),
        alias: fc.constantFrom(...ALIASES),
      }),
    },
  );

const catalogArb = fc.array(buildArb, { minLength: 1, maxLength: 8 }).chain((builds) =>
  fc.record({
    builds: fc.constant(builds),
    ops: fc.array(opArb(builds.length), { minLength: 1, maxLength: 14 }),
    seed: fc.integer(),
  }),
);

interface Catalog {
  readonly builds: readonly Build[];
  readonly versions: Version[];
  /** `image/alias` → version name. */
  readonly aliases: Map<string, string>;
}

/** Applies the operations as the API would: versions named 1, 2, …, or `stable` now and then. */
function run(builds: readonly Build[], ops: readonly Op[]): Catalog {
  const versions: Version[] = [];
  const aliases = new Map<string, string>();
  let clock = Date.UTC(2026, 11, 1, 10, 0, 0);
  for (const op of ops) {
    const image = IMAGES[op.image];
    const own = versions.filter((v) => v.image === image);
    if (op.kind === 'publish') {
      clock += op.gap;
      const shipped: Shipped[] = [];
      for (const { build, variant } of op.builds) {
        const b = builds[build];
        const slot = (s: { type: string; arch: string; variant: string }) =>
          `${s.type}/${incusArchitectureName(s.arch)}/${s.variant}`;
        // One image per type, architecture and variant in a version (the publish step refuses more).
        if (shipped.some((s) => slot(s) === slot({ ...b, variant }))) continue;
        if (shipped.some((s) => s.build === build)) continue;
        shipped.push({ fingerprint: sha(`combined ${build}`), build, ...b, variant });
      }
      const name =
        own.length === 2 && !own.some((v) => v.name === 'stable')
          ? 'stable'
          : String(own.length + 1);
      versions.push({ image, name, publishedAt: new Date(clock), shipped });
    } else if (op.kind === 'alias') {
      if (own.length > 0) aliases.set(`${image}/${op.alias}`, own[op.pick % own.length].name);
    } else {
      aliases.delete(`${image}/${op.alias}`);
    }
  }
  return { builds, versions, aliases };
}

function rows(catalog: Catalog): ProjectionInput[] {
  return catalog.versions.flatMap((v) =>
    v.shipped.map((s): ProjectionInput => {
      const arch = streamsArchitecture(s.arch);
      const vm = s.type === 'virtual-machine';
      return {
        imageName: v.image,
        version: v.name,
        publishedAt: v.publishedAt,
        productKey: `${v.image}:${v.name}:${arch}:${s.variant}`,
        imageType: s.type,
        architecture: s.arch,
        variant: s.variant,
        operatingSystem: 'Debian',
        release: '12',
        releaseTitle: 'bookworm',
        serial: catalog.builds[s.build].serial,
        combinedSha256: s.fingerprint,
        metadataSha256: sha(`meta ${s.build}`),
        metadataSizeBytes: 100,
        rootFtype: vm ? 'disk-kvm.img' : 'squashfs',
        rootPath: `v1/images/${v.image}/versions/${v.name}/artifacts/x/download/${v.image}-${v.name}.${vm ? 'qcow2' : 'squashfs'}`,
        rootSha256: sha(`root ${s.build}`),
        rootSizeBytes: 1000,
        aliases: [...catalog.aliases]
          .filter(([k, target]) => k.startsWith(`${v.image}/`) && target === v.name)
          .map(([k]) => k.slice(v.image.length + 1)),
      };
    }),
  );
}

/** What each name must resolve to: `name` → type → client architecture → fingerprint. */
function expected(catalog: Catalog): Map<string, Map<ImageType, Map<string, string>>> {
  const out = new Map<string, Map<ImageType, Map<string, string>>>();
  const add = (name: string, version: Version) => {
    for (const variant of new Set(VARIANTS)) {
      const full = variant === 'default' ? name : `${name}/${variant}`;
      const byType = new Map<ImageType, Map<string, string>>();
      for (const type of TYPES) {
        const byArch = new Map<string, string>();
        for (const s of version.shipped)
          if (s.type === type && s.variant === variant)
            byArch.set(incusArchitectureName(s.arch) as string, s.fingerprint);
        if (byArch.size > 0) byType.set(type, byArch);
      }
      if (byType.size > 0) out.set(full, byType);
    }
  };
  for (const v of catalog.versions) add(`${v.image}/${v.name}`, v);
  for (const [name, target] of catalog.aliases) {
    const [image, alias] = name.split('/');
    // Refs resolve an exact version first: an alias named like a version is that version.
    if (catalog.versions.some((v) => v.image === image && v.name === alias)) continue;
    add(name, catalog.versions.find((v) => v.image === image && v.name === target) as Version);
  }
  return out;
}

function shuffler(seed: number): (keys: string[]) => string[] {
  let s = seed >>> 0 || 1;
  return (keys) => {
    const out = [...keys];
    for (let i = out.length - 1; i > 0; i--) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const j = s % (i + 1);
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  };
}

const attempt = <T>(f: () => T): T | undefined => {
  try {
    return f();
  } catch {
    return undefined;
  }
};

function check(catalog: Catalog, images: ClientImage[], list: ClientAlias[]): void {
  const want = expected(catalog);

  // Every fingerprint shipped is listed exactly once, with its own files at content-addressed paths.
  const shipped = new Map(
    catalog.versions.flatMap((v) => v.shipped.map((s) => [s.fingerprint, s])),
  );
  expect(images).toHaveLength(shipped.size);
  for (const [fingerprint, s] of shipped) {
    const image = getImage(images, fingerprint);
    expect(image.type).toBe(s.type);
    expect(image.architecture).toBe(incusArchitectureName(s.arch));
    expect(image.files.meta).toEqual([
      itemPath(sha(`meta ${s.build}`), METADATA_FILENAME),
      sha(`meta ${s.build}`),
    ]);
    expect(image.files.root?.[1]).toBe(sha(`root ${s.build}`));
    expect(image.files.root?.[0]).toMatch(
      new RegExp(`^streams/v1/items/${sha(`root ${s.build}`)}/`),
    );
  }

  // No name beyond the expected ones, for any type or architecture.
  for (const entry of list) {
    const base = entry.name.replace(/\/[^/]+$/, '');
    const arch = want.get(entry.name) ? undefined : entry.name.slice(base.length + 1);
    const name = arch === undefined ? entry.name : base;
    const target = want
      .get(name)
      ?.get(entry.type as ImageType)
      ?.get(entry.architecture);
    expect({ entry, target }).toEqual({ entry, target: entry.target });
    if (arch !== undefined) {
      expect(streamsArchitecture(arch)).toBe(arch);
      expect(incusArchitectureName(arch)).toBe(entry.architecture);
    }
  }

  for (const [name, byType] of want) {
    for (const type of TYPES) {
      const byArch = byType.get(type);
      if (!byArch) {
        expect(attempt(() => getAliasArchitectures(list, type, name))).toBeUndefined();
        expect(attempt(() => getAlias(list, type, name, NATIVE))).toBeUndefined();
        for (const arch of ARCHES)
          expect(
            attempt(() => getAlias(list, type, `${name}/${streamsArchitecture(arch)}`)),
          ).toBeUndefined();
        continue;
      }
      expect(getAliasArchitectures(list, type, name)).toEqual(byArch);
      for (const arch of ARCHES) {
        const target = byArch.get(incusArchitectureName(arch) as string);
        const medium = attempt(() => getAlias(list, type, `${name}/${streamsArchitecture(arch)}`));
        expect(medium?.target).toBe(target);
      }
      const short = getAlias(list, type, name, NATIVE).target;
      if (byArch.has(NATIVE)) expect(short).toBe(byArch.get(NATIVE));
      else expect([...byArch.values()]).toContain(short);
    }
    // No type given: the client tries a container first, then a VM.
    const either = getImageAliasType(list, '', name, NATIVE);
    expect(either.type).toBe(byType.has('container') ? 'container' : 'virtual-machine');
  }
}

describe('what the Incus client resolves in the projected documents', () => {
  it('resolves every name, type and architecture to exactly its own version’s image', () => {
    fc.assert(
      fc.property(catalogArb, ({ builds, ops, seed }) => {
        const catalog = run(builds, ops);
        const docs = projectStreams(rows(catalog));
        // The bytes as served, read back as the client reads them, in a random product order.
        const parsed = JSON.parse(JSON.stringify(docs.images));
        const images = clientImages(parsed, shuffler(seed));
        check(catalog, images, clientAliases(images));
        // The index lists exactly the products.
        expect(
          (docs.index as { index: { images: { products: string[] } } }).index.images.products,
        ).toEqual(Object.keys(docs.images.products));
      }),
      { numRuns: 400 },
    );
  });

  it('renders the same bytes whatever order the rows come in', () => {
    fc.assert(
      fc.property(catalogArb, ({ builds, ops, seed }) => {
        const input = rows(run(builds, ops));
        const a = JSON.stringify(projectStreams(input));
        const b = JSON.stringify(
          projectStreams(
            shuffler(seed)(input.map((_, i) => String(i))).map((i) => input[Number(i)]),
          ),
        );
        expect(b).toBe(a);
      }),
      { numRuns: 100 },
    );
  });

  it('answers the reported case: v5 ships only the container, so img/v5 has no VM', () => {
    const builds: Build[] = [
      { type: 'virtual-machine', arch: 'amd64', serial: null },
      { type: 'container', arch: 'amd64', serial: null },
      { type: 'virtual-machine', arch: 'amd64', serial: null },
    ];
    const ops: Op[] = [
      {
        kind: 'publish',
        image: 0,
        builds: [
          { build: 0, variant: 'default' },
          { build: 1, variant: 'default' },
        ],
        gap: 0,
      },
      {
        kind: 'publish',
        image: 0,
        builds: [
          { build: 2, variant: 'default' },
          { build: 1, variant: 'default' },
        ],
        gap: 0,
      },
      { kind: 'alias', image: 0, alias: 'latest', pick: 1 },
      { kind: 'publish', image: 0, builds: [{ build: 1, variant: 'default' }], gap: 0 },
      { kind: 'alias', image: 0, alias: 'latest', pick: 2 },
      // Another image shipping the same container, never a VM.
      { kind: 'publish', image: 1, builds: [{ build: 1, variant: 'default' }], gap: 0 },
      { kind: 'alias', image: 1, alias: 'latest', pick: 0 },
    ];
    const catalog = run(builds, ops);
    const images = clientImages(JSON.parse(JSON.stringify(projectStreams(rows(catalog)).images)));
    const list = clientAliases(images);
    check(catalog, images, list);
    expect(attempt(() => getAlias(list, 'virtual-machine', 'alpha/latest'))).toBeUndefined();
    expect(attempt(() => getAlias(list, 'virtual-machine', 'alpha/3'))).toBeUndefined();
    expect(getAlias(list, 'virtual-machine', 'alpha/2').target).toBe(sha('combined 2'));
    expect(attempt(() => getAlias(list, 'virtual-machine', 'beta/latest'))).toBeUndefined();
    expect(getAlias(list, 'container', 'beta/latest').target).toBe(sha('combined 1'));
  });
});
