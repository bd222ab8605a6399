import { connect } from 'node:net';
import * as fc from 'fast-check';

/**
 * Request generation for the OpenAPI fuzz run (test/e2e/openapi-fuzz.test.ts): every operation
 * of the document becomes an arbitrary of requests built from its parameters and body schema,
 * then mutated. Values that must name real rows are written as tokens (`@@fx.image@@` in any
 * text, `"@@=g.parts@@"` for a JSON value) and resolved when the request is sent, so a generated
 * request stays meaningful while the fixtures behind it are replaced.
 */

export interface SchemaObject {
  readonly $ref?: string;
  readonly type?: string;
  readonly format?: string;
  readonly pattern?: string;
  readonly enum?: readonly unknown[];
  readonly minimum?: number;
  readonly maximum?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly nullable?: boolean;
  readonly example?: unknown;
  readonly properties?: Readonly<Record<string, SchemaObject>>;
  readonly required?: readonly string[];
  readonly items?: SchemaObject;
  readonly additionalProperties?: boolean | SchemaObject;
}

export interface ParameterObject {
  readonly $ref?: string;
  readonly name: string;
  readonly in: 'path' | 'query' | 'header' | 'cookie';
  readonly required?: boolean;
  readonly schema?: SchemaObject;
}

interface OperationObject {
  readonly operationId?: string;
  readonly parameters?: readonly ParameterObject[];
  readonly requestBody?: {
    readonly required?: boolean;
    readonly content?: Readonly<Record<string, { readonly schema?: SchemaObject }>>;
  };
  readonly security?: readonly Readonly<Record<string, readonly string[]>>[];
  readonly [extension: `x-${string}`]: unknown;
}

export interface OpenApiDocument {
  readonly paths: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  readonly components?: { readonly schemas?: Readonly<Record<string, SchemaObject>> };
}

export interface FuzzOperation {
  /** `GET /v1/images/{name}`. */
  readonly key: string;
  readonly method: string;
  readonly template: string;
  readonly operationId: string;
  readonly parameters: readonly ParameterObject[];
  readonly body?: {
    readonly contentType: string;
    readonly schema: SchemaObject;
    readonly required: boolean;
  };
}

const METHODS = ['get', 'head', 'post', 'put', 'patch', 'delete', 'options'] as const;
/** Extensions that mark a GET the server also answers to HEAD (when not already a `head` op). */
const HEAD_EXTENSIONS = ['x-imgsrv-head', 'x-head'];

export function resolveRef<T extends { $ref?: string }>(doc: OpenApiDocument, value: T): T {
  let current: T = value;
  for (let depth = 0; current.$ref && depth < 16; depth++) {
    const name = current.$ref.replace(/^#\/components\/schemas\//, '');
    const target = doc.components?.schemas?.[name];
    if (!target) throw new Error(`unresolvable $ref ${current.$ref}`);
    current = target as T;
  }
  return current;
}

/** Every operation (method and path template) of the document, HEAD twins included. */
export function operationsOf(doc: OpenApiDocument): FuzzOperation[] {
  const operations: FuzzOperation[] = [];
  for (const [template, item] of Object.entries(doc.paths)) {
    const shared = (item.parameters ?? []) as ParameterObject[];
    const entries = METHODS.flatMap((method) =>
      item[method] ? [[method, item[method] as OperationObject] as const] : [],
    );
    const get = item.get as OperationObject | undefined;
    if (get && !item.head && HEAD_EXTENSIONS.some((x) => get[x as `x-${string}`]))
      entries.push(['head', get]);
    for (const [method, op] of entries) {
      const declared = [...shared, ...(op.parameters ?? [])].map((p) => resolveRef(doc, p));
      // A template variable the document forgot still gets fuzzed, as a plain string.
      for (const [, name] of template.matchAll(/\{([^}]+)\}/g))
        if (!declared.some((p) => p.in === 'path' && p.name === name))
          declared.push({ name, in: 'path', required: true, schema: { type: 'string' } });
      const [contentType, media] = Object.entries(op.requestBody?.content ?? {})[0] ?? [];
      operations.push({
        key: `${method.toUpperCase()} ${template}`,
        method: method.toUpperCase(),
        template,
        operationId: op.operationId ?? `${method} ${template}`,
        parameters: declared,
        body:
          contentType && method !== 'head'
            ? {
                contentType,
                schema: resolveRef(doc, media?.schema ?? { type: 'string' }),
                required: op.requestBody?.required ?? false,
              }
            : undefined,
      });
    }
  }
  return operations;
}

// ---------------------------------------------------------------------------------------------
// Requests

/** A path parameter or query value: `component` is percent-encoded, `raw` is sent as written. */
export interface Piece {
  readonly text: string;
  readonly encode: 'component' | 'raw';
}

export type AuthChoice =
  | { readonly kind: 'token'; readonly who: 'admin' | 'reader' }
  | { readonly kind: 'basic'; readonly who: 'admin' | 'reader' }
  | { readonly kind: 'none' }
  | { readonly kind: 'raw'; readonly value: string };

export type FuzzBody =
  | { readonly kind: 'json'; readonly value: unknown }
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'bytes'; readonly bytes: Uint8Array };

export interface FuzzRequest {
  readonly op: string;
  /** The part of the request meant to be broken. */
  readonly focus: Focus;
  readonly method: string;
  /** Which fixture `fx.*` tokens name. */
  readonly fixture: number;
  readonly path: readonly (string | Piece)[];
  readonly query: readonly { readonly name: Piece; readonly value: Piece | null }[];
  readonly auth: AuthChoice;
  readonly headers: Readonly<Record<string, string>>;
  /** null: no Content-Type header. */
  readonly contentType: string | null;
  readonly body: FuzzBody | null;
}

/** What the test supplies: values that hit real rows, by parameter or field name. */
export interface FuzzHints {
  /** Path and query parameters, by name: token strings. */
  param(name: string, schema: SchemaObject): fc.Arbitrary<string> | undefined;
  /** Body fields, by name (any JSON value, tokens allowed). */
  field(name: string, schema: SchemaObject): fc.Arbitrary<unknown> | undefined;
  /** Broken values the schema cannot tell of (forged cursors, say), by parameter name. */
  badParam(name: string, schema: SchemaObject): fc.Arbitrary<string> | undefined;
  /** Fields whose hint is the only source of values (say, URLs the server must never fetch). */
  readonly exclusive: ReadonlySet<string>;
  /** Which fixture `fx.*` tokens name. */
  readonly fixture: fc.Arbitrary<number>;
}

const TEXT_TOKEN = /@@([A-Za-z0-9]+(?:\.[A-Za-z0-9_]+)+)@@/g;
const JSON_TOKEN = /"@@=([A-Za-z0-9]+(?:\.[A-Za-z0-9_]+)+)@@"/g;

/** Replaces tokens: `"@@=key@@"` by the JSON of the value, `@@key@@` by its text. */
export function resolveTokens(text: string, lookup: (key: string) => unknown): string {
  return text
    .replace(JSON_TOKEN, (_, key: string) => JSON.stringify(lookup(key)) ?? 'null')
    .replace(TEXT_TOKEN, (_, key: string) => String(lookup(key)));
}

/** encodeURIComponent that also writes lone surrogates (as their 3-byte CESU-8 form). */
export function encodeLoose(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    const high = unit >= 0xd800 && unit <= 0xdbff;
    const low = unit >= 0xdc00 && unit <= 0xdfff;
    const next = text.charCodeAt(i + 1);
    if (high && next >= 0xdc00 && next <= 0xdfff) {
      out += encodeURIComponent(text.slice(i, i + 2));
      i++;
    } else if (high || low) {
      out += [0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f)]
        .map((b) => `%${b.toString(16).toUpperCase()}`)
        .join('');
    } else {
      out += encodeURIComponent(text[i]);
    }
  }
  return out;
}

/** A request target the HTTP client accepts (0x21-0xFF), everything else percent-encoded. */
export function rawTarget(text: string): string {
  return text.replace(/[^\u0021-\u00ff]+/g, (run) => encodeLoose(run));
}

/** A header value the HTTP client accepts: tab, printable ASCII and Latin-1 only. */
export function headerSafe(text: string): string {
  return text.replace(/[^\t\u0020-\u007e\u0080-\u00ff]/g, '?');
}

export function encodePiece(piece: Piece, lookup: (key: string) => unknown): string {
  const text = resolveTokens(piece.text, lookup);
  return piece.encode === 'component' ? encodeLoose(text) : rawTarget(text);
}

export function targetOf(request: FuzzRequest, lookup: (key: string) => unknown): string {
  const path = request.path
    .map((p) => (typeof p === 'string' ? p : encodePiece(p, lookup)))
    .join('');
  const query = request.query
    .map(({ name, value }) =>
      value === null
        ? encodePiece(name, lookup)
        : `${encodePiece(name, lookup)}=${encodePiece(value, lookup)}`,
    )
    .join('&');
  return query ? `${path}?${query}` : path;
}

export function bodyBytes(body: FuzzBody, lookup: (key: string) => unknown): Buffer {
  switch (body.kind) {
    case 'json':
      return Buffer.from(resolveTokens(JSON.stringify(body.value) ?? '', lookup));
    case 'text':
      return Buffer.from(resolveTokens(body.text, lookup));
    case 'bytes':
      return Buffer.from(body.bytes);
  }
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

const weighted = <T>(...pairs: [number, fc.Arbitrary<T>][]): fc.Arbitrary<T> =>
  fc.oneof(...pairs.map(([weight, arbitrary]) => ({ weight, arbitrary })));

/** Texts that break naive handling: NUL, lone surrogates, RTL marks, traversal, injection. */
export const SPECIAL_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udc00y',
  '😀',
  'é',
  '日本語',
  '\u202e',
  '\ufeff',
  'a\nb',
  '\r\n',
  '\t',
  '..',
  '../../../../etc/passwd',
  "' OR 1=1 --",
  '"; DROP TABLE image; --',
  '%00',
  '%s%s%n',
  '${jndi:ldap://127.0.0.1/x}',
  '<script>alert(1)</script>',
  '__proto__',
  'constructor',
  'null',
  'undefined',
  'NaN',
  '-1',
  '0',
  '1e309',
  '9'.repeat(40),
];

const specialString = fc.constantFrom(...SPECIAL_STRINGS);
const hugeString = fc
  .tuple(fc.constantFrom(129, 256, 1_000, 10_000, 70_000), fc.constantFrom('a', 'é', '😀', '0'))
  .map(([n, c]) => c.repeat(n));

const smallJson: fc.Arbitrary<unknown> = fc.jsonValue({ maxDepth: 2, depthSize: 'small' });

/** A value of the wrong type (or range) for any field. */
const wrongValue: fc.Arbitrary<unknown> = weighted<unknown>(
  [2, fc.integer()],
  [1, fc.constantFrom(-1, 0, 1.5, 1e308, -1e308, 2 ** 53 + 1, 2 ** 31, 2 ** 63, -0)],
  [2, fc.boolean()],
  [2, fc.constant(null)],
  [1, fc.array(fc.integer(), { maxLength: 3 })],
  [1, fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 4 }), { maxKeys: 2 })],
  [2, fc.string({ maxLength: 20 })],
  [2, specialString],
  [1, hugeString],
);

const patternCache = new Map<string, fc.Arbitrary<string>>();
function matching(pattern: string): fc.Arbitrary<string> {
  let arb = patternCache.get(pattern);
  if (!arb) {
    arb = fc.stringMatching(new RegExp(pattern));
    patternCache.set(pattern, arb);
  }
  return arb;
}

/** A value valid for `schema` (as far as the schema says), hints first. */
export function schemaValue(
  doc: OpenApiDocument,
  given: SchemaObject,
  hints: FuzzHints,
  name = '',
  depth = 0,
): fc.Arbitrary<unknown> {
  const schema = resolveRef(doc, given);
  const hinted = name ? hints.field(name, schema) : undefined;
  if (hinted && hints.exclusive.has(name)) return hinted;
  const plain = plainValue(doc, schema, hints, depth);
  const base = hinted ? weighted([3, hinted], [1, plain]) : plain;
  return schema.nullable ? weighted([5, base], [1, fc.constant(null)]) : base;
}

function plainValue(
  doc: OpenApiDocument,
  schema: SchemaObject,
  hints: FuzzHints,
  depth: number,
): fc.Arbitrary<unknown> {
  if (schema.enum?.length) return fc.constantFrom(...schema.enum);
  switch (schema.type) {
    case 'object': {
      const props = Object.entries(schema.properties ?? {});
      if (props.length === 0 || depth > 3) {
        const values =
          typeof schema.additionalProperties === 'object'
            ? schemaValue(doc, schema.additionalProperties, hints, '', depth + 1)
            : fc.string({ maxLength: 8 });
        return fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }), values, { maxKeys: 3 });
      }
      const required = new Set(schema.required ?? []);
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [key, sub] of props) record[key] = schemaValue(doc, sub, hints, key, depth + 1);
      return fc.record(record, {
        requiredKeys: props.map(([key]) => key).filter((key) => required.has(key)),
      });
    }
    case 'array':
      return fc.array(schemaValue(doc, schema.items ?? {}, hints, '', depth + 1), {
        maxLength: 4,
      });
    case 'integer':
    case 'number': {
      const min = schema.minimum ?? -1_000_000;
      const max = schema.maximum ?? Math.max(min, 1_000_000) + 1_000_000;
      return fc.integer({ min: Math.ceil(min), max: Math.floor(max) });
    }
    case 'boolean':
      return fc.boolean();
    default:
      return stringValue(schema);
  }
}

function stringValue(schema: SchemaObject): fc.Arbitrary<string> {
  if (schema.enum?.length) return fc.constantFrom(...schema.enum.map(String));
  if (schema.format === 'uuid') return fc.uuid();
  if (schema.format === 'date-time')
    return fc
      .integer({ min: -2 * 86_400_000, max: 40 * 86_400_000 })
      .map((offset) => new Date(Date.now() + offset).toISOString());
  if (schema.pattern) return matching(schema.pattern);
  const examples = typeof schema.example === 'string' ? [fc.constant(schema.example)] : [];
  return fc.oneof(
    fc.string({
      minLength: schema.minLength ?? 0,
      maxLength: Math.min(schema.maxLength ?? 24, 24),
    }),
    ...examples,
  );
}

// -- bodies -----------------------------------------------------------------------------------

const GARBAGE_JSON_TEXTS = [
  '',
  ' ',
  '{',
  '}',
  'null',
  '[]',
  '[{}]',
  '"x"',
  '1',
  'true',
  '{"a":1,}',
  "{'a':1}",
  '{"a":1}{"b":2}',
  '\ufeff{}',
  '{"a":"\\ud800"}',
  '{"a":"\\u0000"}',
  '{"a":1e999}',
  '{"a":-0}',
  'NaN',
  '{"__proto__":{"polluted":true}}',
  '{"constructor":{"prototype":{"polluted":true}}}',
  '{"a":"\u0000"}',
  '\u0000',
  '{"a":\u00ff}',
];

const CONTENT_TYPES_WRONG = [
  'text/plain',
  'application/xml',
  'application/octet-stream',
  'multipart/form-data; boundary=x',
  'application/x-www-form-urlencoded',
  'application/merge-patch+json',
  'application/json; charset=utf-16',
  'application/json; charset=latin1',
  'APPLICATION/JSON',
  'application/json;;',
  'application/json, text/plain',
  ';',
  'x',
  '*/*',
  'application/',
  'application/jsonx',
];

type MutableJson = Record<string, unknown>;

const asObject = (value: unknown): MutableJson =>
  value && typeof value === 'object' && !Array.isArray(value) ? { ...(value as MutableJson) } : {};

/** A key of `value` or of the schema, picked by `n`. */
function keyOf(value: MutableJson, schema: SchemaObject, n: number): string {
  const keys = [...new Set([...Object.keys(value), ...Object.keys(schema.properties ?? {})])];
  return keys.length ? keys[n % keys.length] : 'field';
}

/** One part of a request: values that should pass (`good`) and values meant to break (`bad`). */
export interface Dimension<T> {
  readonly good: fc.Arbitrary<T>;
  readonly bad: fc.Arbitrary<T>;
}

type BodyPart = { contentType: string | null; body: FuzzBody | null };

/** JSON bodies for `schema`: valid ones, and their mutations with Content-Types good and bad. */
export function jsonBodyDimension(
  doc: OpenApiDocument,
  schema: SchemaObject,
  hints: FuzzHints,
): Dimension<BodyPart> {
  const valid = schemaValue(doc, schema, hints);
  const edit = (
    arb: fc.Arbitrary<[unknown, number]>,
    change: (o: MutableJson, key: string) => void,
  ) =>
    arb.map(([value, n]): FuzzBody => {
      const object = asObject(value);
      change(object, keyOf(object, schema, n));
      return { kind: 'json', value: object };
    });
  const body = weighted<FuzzBody | null>(
    [3, edit(fc.tuple(valid, fc.nat()), (o, key) => delete o[key])],
    [
      3,
      fc
        .tuple(fc.tuple(valid, fc.nat()), wrongValue)
        .chain(([pair, wrong]) => edit(fc.constant(pair), (o, key) => (o[key] = wrong))),
    ],
    [
      2,
      fc
        .tuple(
          valid,
          fc.oneof(fc.constantFrom('extra', 'Name', 'name ', '', 'id', 'state'), fc.string()),
          smallJson,
        )
        .map(([value, key, extra]) => ({
          kind: 'json',
          value: { ...asObject(value), [key]: extra },
        })),
    ],
    [
      1,
      fc
        .tuple(
          valid,
          fc.nat(),
          fc.constantFrom(33, 200, 2_000, 50_000),
          fc.constantFrom('{"a":', '['),
        )
        .map(([value, n, depth, open]) => {
          const object = asObject(value);
          object[keyOf(object, schema, n)] = '@@nest@@';
          const close = open === '[' ? ']' : '}';
          const nested = `${open.repeat(depth)}1${close.repeat(depth)}`;
          return { kind: 'text', text: JSON.stringify(object).replace('"@@nest@@"', nested) };
        }),
    ],
    [
      2,
      fc
        .tuple(
          fc.tuple(valid, fc.nat()),
          weighted([6, hugeString], [1, fc.constant('x'.repeat(1_100_000))]),
        )
        .chain(([pair, huge]) => edit(fc.constant(pair), (o, key) => (o[key] = huge))),
    ],
    [
      2,
      fc
        .tuple(fc.tuple(valid, fc.nat()), specialString)
        .chain(([pair, special]) => edit(fc.constant(pair), (o, key) => (o[key] = special))),
    ],
    [1, fc.uint8Array({ maxLength: 512 }).map((bytes) => ({ kind: 'bytes', bytes }))],
    [2, fc.constantFrom(...GARBAGE_JSON_TEXTS).map((text) => ({ kind: 'text', text }))],
    [1, smallJson.map((value) => ({ kind: 'json', value }))],
    [1, fc.constant(null)],
  );
  const goodType = weighted<string | null>(
    [8, fc.constant('application/json')],
    [1, fc.constant('application/json; charset=utf-8')],
  );
  const anyType = weighted<string | null>(
    [14, goodType],
    [1, fc.constant(null)],
    [3, fc.constantFrom(...CONTENT_TYPES_WRONG)],
  );
  return {
    good: fc.record({
      contentType: goodType,
      body: valid.map((value): FuzzBody | null => ({ kind: 'json', value })),
    }),
    bad: weighted<BodyPart>(
      [6, fc.record({ contentType: anyType, body })],
      [
        1,
        fc.record({
          contentType: fc.constantFrom(...CONTENT_TYPES_WRONG, null),
          body: valid.map((value): FuzzBody | null => ({ kind: 'json', value })),
        }),
      ],
    ),
  };
}

/** Raw bodies (upload parts): bytes up to a few KiB, and JSON or nothing where bytes belong. */
export function rawBodyDimension(): Dimension<BodyPart> {
  const bytes = fc
    .uint8Array({ minLength: 1, maxLength: 4096 })
    .map((b): FuzzBody | null => ({ kind: 'bytes', bytes: b }));
  const body = weighted<FuzzBody | null>(
    [3, bytes],
    [1, fc.constant({ kind: 'bytes', bytes: new Uint8Array(0) })],
    [1, fc.constant(null)],
    [1, fc.constantFrom(...GARBAGE_JSON_TEXTS).map((text) => ({ kind: 'text', text }))],
    [1, fc.constant({ kind: 'bytes', bytes: new Uint8Array(300_000).fill(7) })],
  );
  return {
    good: fc.record({ contentType: fc.constant('application/octet-stream'), body: bytes }),
    bad: fc.record({
      contentType: weighted<string | null>(
        [4, fc.constant('application/octet-stream')],
        [2, fc.constant(null)],
        [3, fc.constantFrom(...CONTENT_TYPES_WRONG, 'application/json')],
      ),
      body,
    }),
  };
}

/** Where the operation takes no body: none, or a stray one. */
function strayBodyDimension(method: string): Dimension<BodyPart> {
  const none = fc.constant<BodyPart>({ contentType: null, body: null });
  if (method === 'HEAD') return { good: none, bad: none };
  return {
    good: none,
    bad: fc.record({
      contentType: fc.constantFrom<string | null>('application/json', null, ...CONTENT_TYPES_WRONG),
      body: weighted<FuzzBody | null>(
        [2, smallJson.map((value) => ({ kind: 'json', value }))],
        [2, fc.constantFrom(...GARBAGE_JSON_TEXTS).map((text) => ({ kind: 'text', text }))],
        [1, fc.uint8Array({ maxLength: 256 }).map((bytes) => ({ kind: 'bytes', bytes }))],
      ),
    }),
  };
}

// -- parameters -------------------------------------------------------------------------------

const WRONG_TYPE_TEXTS = ['0', '-1', '1.5', '1e3', 'true', 'null', '[]', '{}', 'NaN', 'Infinity'];
const TRAVERSALS = [
  '..',
  '.',
  '%2e%2e',
  '%2E%2E%2F%2E%2E',
  '..%2F..%2Fetc%2Fpasswd',
  '../../',
  '%2F',
  '%00',
  '%',
  '%zz',
  '%C0%AF',
  '%FF',
  '%ED%A0%80',
  '%25',
  '~',
  '*',
  '?x=1',
  '#frag',
  ';a=b',
  '\u00e9',
];

/** Values for a path parameter: real rows and schema-valid ones; or broken ones. */
function pathParamDimension(param: ParameterObject, hints: FuzzHints): Dimension<Piece> {
  const schema = param.schema ?? { type: 'string' };
  const hinted = hints.param(param.name, schema);
  const valid = stringValue(schema.type === 'string' || !schema.type ? schema : { type: 'string' });
  const numeric =
    schema.type === 'number' || schema.type === 'integer' || schema.minimum !== undefined
      ? [
          fc
            .integer({ min: schema.minimum ?? 0, max: schema.maximum ?? 1000 })
            .map((n) => String(n)),
        ]
      : [];
  const good = weighted<string>(
    ...(hinted ? [[6, hinted] as [number, fc.Arbitrary<string>]] : []),
    [2, fc.oneof(valid, ...numeric)],
  );
  const component = (arb: fc.Arbitrary<string>) =>
    arb.map((text): Piece => ({ text, encode: 'component' }));
  const raw = (arb: fc.Arbitrary<string>) => arb.map((text): Piece => ({ text, encode: 'raw' }));
  const special = hints.badParam(param.name, schema);
  return {
    good: component(good),
    bad: weighted<Piece>(
      ...(special ? [[4, component(special)] as [number, fc.Arbitrary<Piece>]] : []),
      [2, component(fc.constantFrom(...WRONG_TYPE_TEXTS))],
      [2, component(hugeString)],
      [1, component(fc.constant('a'.repeat(20_000)))],
      [2, component(specialString)],
      [2, component(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }))],
      [3, raw(fc.constantFrom(...TRAVERSALS))],
      [1, component(fc.constant(''))],
      [
        4,
        fc
          .tuple(good, fc.constantFrom(...TRAVERSALS, ' ', '/', '/x', '..'), fc.boolean())
          .map(([text, extra, before]): Piece => ({
            text: before ? `${extra}${text}` : `${text}${extra}`,
            encode: 'raw',
          })),
      ],
      [1, component(good.map((text) => text.toUpperCase()))],
    ),
  };
}

const QUERY_WRONG = [
  '',
  '0',
  '-1',
  '501',
  '1.5',
  '1e3',
  'abc',
  ' 1',
  '0x10',
  '9'.repeat(400),
  'NaN',
  'Infinity',
  '[]',
  'null',
  'true',
];

type QueryPart = { name: Piece; value: Piece | null }[];

function queryParamDimension(param: ParameterObject, hints: FuzzHints): Dimension<QueryPart> {
  const schema = param.schema ?? { type: 'string' };
  const hinted = hints.param(param.name, schema);
  const numeric = schema.type === 'number' || schema.type === 'integer';
  const valid = numeric
    ? fc.integer({ min: schema.minimum ?? 0, max: schema.maximum ?? 1000 }).map((n) => String(n))
    : stringValue(schema);
  const good = hinted ? weighted([3, hinted], [1, valid]) : valid;
  const name: Piece = { text: param.name, encode: 'component' };
  const one = (value: fc.Arbitrary<string>, encode: Piece['encode'] = 'component') =>
    value.map((text) => [{ name, value: { text, encode } }]);
  const special = hints.badParam(param.name, schema);
  return {
    good: weighted<QueryPart>([param.required ? 0 : 2, fc.constant([])], [3, one(good)]),
    bad: weighted<QueryPart>(
      ...(special ? [[4, one(special)] as [number, fc.Arbitrary<QueryPart>]] : []),
      [param.required ? 0 : 2, fc.constant([])],
      [1, one(good)],
      [3, one(fc.constantFrom(...QUERY_WRONG))],
      [2, one(weighted([3, hugeString], [1, specialString]))],
      [1, one(fc.constantFrom('%zz', '%', '%00', '%ED%A0%80', '+', '%2B'), 'raw')],
      [1, fc.constant([{ name, value: null }])],
      [
        2,
        fc.tuple(good, fc.oneof(good, fc.constantFrom(...QUERY_WRONG))).map(([a, b]) => [
          { name, value: { text: a, encode: 'component' as const } },
          { name, value: { text: b, encode: 'component' as const } },
        ]),
      ],
      [
        1,
        good.map((text) => [
          {
            name: { text: `${param.name}[]`, encode: 'raw' as const },
            value: { text, encode: 'component' as const },
          },
        ]),
      ],
    ),
  };
}

const EXTRA_QUERIES = [
  'foo=bar',
  '__proto__[polluted]=1',
  'constructor[prototype][polluted]=1',
  'limit[]=1',
  'cursor[a]=b',
  '&&',
  '=',
  '=x',
  'a=%zz',
  `x=${'y'.repeat(5_000)}`,
  `x=${'y'.repeat(20_000)}`,
];

// -- headers ----------------------------------------------------------------------------------

const DATES = [
  'Thu, 01 Jan 1970 00:00:00 GMT',
  'Fri, 31 Dec 9999 23:59:59 GMT',
  new Date().toUTCString(),
  'yesterday',
  '',
  '2026-01-01T00:00:00Z',
  '-1',
];

/** Well-formed values of the headers the operations read (tokens name real entity tags). */
const GOOD_HEADER_VALUES: Record<string, readonly string[]> = {
  range: ['bytes=0-0', 'bytes=0-', 'bytes=-1', 'bytes=1-3', 'bytes=0-1000000'],
  'if-range': ['"sha256:@@fx.hex@@"', new Date().toUTCString()],
  'if-none-match': ['*', '"sha256:@@fx.hex@@"', '"x"'],
  'if-modified-since': [new Date().toUTCString(), 'Thu, 01 Jan 1970 00:00:00 GMT'],
  'if-match': ['@@g.aliasEtag@@', '*', '"x"'],
  'content-digest': [
    'sha-256=:@@g.partDigest@@:',
    'sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:',
  ],
  'accept-encoding': ['gzip', 'identity', 'gzip, deflate, br'],
};

const BAD_HEADER_VALUES: Record<string, readonly string[]> = {
  range: [
    'bytes=5-1',
    'bytes=0-1,2-3',
    'bytes=',
    'bytes=-',
    'bytes=-0',
    'items=0-1',
    'bytes=99999999999999999999-',
    'bytes=0-18446744073709551616',
    'bytes=1000000000-',
    'bytes = 0-1',
    'bytes=a-b',
    `bytes=${'0-1,'.repeat(500)}0-1`,
  ],
  'if-range': ['W/"x"', '"x"', ...DATES],
  'if-none-match': ['W/"sha256:@@fx.hex@@"', 'x', '"a", "b", *', '"', `${'"x", '.repeat(500)}"y"`],
  'if-modified-since': DATES,
  'if-match': ['W/"x"', 'x', '"', '"a", "b"', ''],
  'content-digest': [
    'sha-256=:AAAA:',
    'sha-256=:',
    'sha-256=::',
    'sha-512=:z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==:',
    'sha-256=abc',
    'md5=:1B2M2Y8AsgTpgAmY7PhCfg==:',
    '=',
    `sha-256=:${'A'.repeat(5000)}:`,
  ],
  'accept-encoding': ['br', 'gzip;q=0', '*;q=0', 'identity;q=0', 'x', ''],
  accept: ['application/json', 'text/html', 'application/xml', '*/*', 'x', ''],
};

function headersDimension(op: FuzzOperation): Dimension<Record<string, string>> {
  const declared = new Set(
    op.parameters.filter((p) => p.in === 'header').map((p) => p.name.toLowerCase()),
  );
  const assemble = (entries: [string, fc.Arbitrary<string | undefined>][]) =>
    fc.tuple(...entries.map(([, arb]) => arb)).map((values) => {
      const headers: Record<string, string> = {};
      values.forEach((value, i) => {
        if (value !== undefined) headers[entries[i][0]] = value;
      });
      return headers;
    });
  const good: [string, fc.Arbitrary<string | undefined>][] = Object.entries(GOOD_HEADER_VALUES)
    .filter(([name]) => declared.has(name))
    .map(([name, values]) => [
      name,
      weighted<string | undefined>([2, fc.constant(undefined)], [1, fc.constantFrom(...values)]),
    ]);
  const bad: [string, fc.Arbitrary<string | undefined>][] = Object.entries(BAD_HEADER_VALUES).map(
    ([name, values]) => [
      name,
      weighted<string | undefined>(
        [6, fc.constant(undefined)],
        [
          declared.has(name) ? 4 : 1,
          fc.constantFrom(...values, ...(GOOD_HEADER_VALUES[name] ?? [])),
        ],
        [1, fc.string({ maxLength: 40 }).map(headerSafe)],
        [1, specialString.map(headerSafe)],
      ),
    ],
  );
  bad.push([
    'x-fuzz-padding',
    weighted<string | undefined>(
      [12, fc.constant(undefined)],
      [1, fc.constantFrom('x'.repeat(8_000), 'x'.repeat(20_000))],
    ),
  ]);
  return { good: assemble(good), bad: assemble(bad) };
}

function authDimension(): Dimension<AuthChoice> {
  const raw = (arb: fc.Arbitrary<string>) =>
    arb.map((value): AuthChoice => ({ kind: 'raw', value: headerSafe(value) }));
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const jwt = fc
    .tuple(
      fc.constantFrom('none', 'HS256', 'RS256', 'EdDSA', 1),
      // Never the issuer of a rule the fuzz run can create: no JWKS is ever fetched.
      fc.constantFrom('https://jwt-only.fuzz.example', 'not a url', 42, undefined),
      fc.string({ maxLength: 16 }),
    )
    .map(
      ([alg, iss, sub]) =>
        `Bearer ${b64url({ alg, typ: 'JWT' })}.${b64url({ iss, sub, aud: 'imgsrv', exp: 4e9 })}.${Buffer.from(sub).toString('base64url')}`,
    );
  return {
    good: weighted<AuthChoice>(
      [9, fc.constant({ kind: 'token', who: 'admin' })],
      [1, fc.constant({ kind: 'token', who: 'reader' })],
    ),
    bad: weighted<AuthChoice>(
      [6, fc.constant({ kind: 'none' })],
      [2, fc.constant({ kind: 'token', who: 'reader' })],
      [2, fc.constant({ kind: 'basic', who: 'admin' })],
      [
        5,
        raw(
          fc.constantFrom(
            'Bearer',
            'Bearer ',
            'Bearer  @@g.adminToken@@',
            'bearer @@g.adminToken@@',
            'BEARER @@g.adminToken@@',
            'Bearer @@g.adminToken@@ extra',
            'Bearer @@g.adminToken@@,Bearer @@g.adminToken@@',
            'Token @@g.adminToken@@',
            '@@g.adminToken@@',
            'Bearer @@g.victimToken.0@@',
            'Bearer @@g.victimToken.1@@',
            'Bearer imgsrv_',
            'Bearer imgsrv__',
            'Bearer imgsrv_@@g.victimTokenId.0@@_wrongsecret',
            'Bearer imgsrv_x_y_z',
            'Bearer a.b.c',
            'Bearer ..',
            'Digest username="x"',
            'Negotiate abc',
            '',
          ),
        ),
      ],
      [3, raw(fc.string({ maxLength: 60 }).map((s) => `Bearer ${s}`))],
      [3, raw(jwt)],
      [
        3,
        raw(
          fc.oneof(
            fc.constantFrom(
              'Basic',
              'Basic ',
              'Basic !!!',
              'Basic ====',
              `Basic ${b64('no-colon')}`,
              `Basic ${b64(':')}`,
              `Basic ${b64('x:imgsrv_x_y')}`,
              `Basic ${b64('\u00ff:\u0000')}`,
            ),
            fc.string({ maxLength: 40 }).map((s) => `Basic ${b64(s)}`),
            fc.string({ maxLength: 40 }).map((s) => `Basic ${s}`),
          ),
        ),
      ],
      [1, raw(fc.constantFrom(`Bearer ${'x'.repeat(10_000)}`, `Basic ${'A'.repeat(20_000)}`))],
    ),
  };
}

/** Which part of a request is broken: none, one, or every part at random. */
export type Focus = 'none' | 'path' | 'query' | 'auth' | 'headers' | 'body' | 'all';

const either = <T>(dimension: Dimension<T>) => fc.oneof(dimension.good, dimension.bad);

/**
 * The arbitrary of requests for one operation: mostly one part broken and the rest well-formed
 * (so the broken part reaches the code behind the checks), some entirely well-formed, some
 * broken everywhere.
 */
export function requestArbitrary(
  doc: OpenApiDocument,
  op: FuzzOperation,
  hints: FuzzHints,
): fc.Arbitrary<FuzzRequest> {
  const pieces = op.template.split(/(\{[^}]+\})/).filter(Boolean);
  const pathDims = pieces.map((piece): Dimension<string | Piece> => {
    const name = /^\{(.+)\}$/.exec(piece)?.[1];
    if (!name) return { good: fc.constant(piece), bad: fc.constant(piece) };
    const param = op.parameters.find((p) => p.in === 'path' && p.name === name);
    return pathParamDimension(param ?? { name, in: 'path' }, hints);
  });
  const variable = pieces.flatMap((piece, i) => (/^\{.+\}$/.test(piece) ? [i] : []));
  const goodPath = fc.tuple(...pathDims.map((d) => d.good));
  const path: Dimension<(string | Piece)[]> = {
    good: goodPath,
    bad:
      variable.length === 0
        ? goodPath
        : fc
            .tuple(goodPath, fc.nat(variable.length - 1))
            .chain(([good, n]) =>
              pathDims[variable[n]].bad.map((bad) =>
                good.map((p, i) => (i === variable[n] ? bad : p)),
              ),
            ),
  };
  const all = {
    path: fc.tuple(...pathDims.map(either)),
  };
  const queryDims = op.parameters
    .filter((p) => p.in === 'query')
    .map((p) => queryParamDimension(p, hints));
  const extras = weighted<QueryPart>(
    [3, fc.constant([])],
    [
      1,
      fc
        .subarray(EXTRA_QUERIES, { minLength: 1, maxLength: 2 })
        .map((texts) =>
          texts.map((text) => ({ name: { text, encode: 'raw' as const }, value: null })),
        ),
    ],
  );
  const query: Dimension<QueryPart> = {
    good: fc.tuple(...queryDims.map((d) => d.good)).map((parts) => parts.flat()),
    bad: fc
      .tuple(fc.tuple(...queryDims.map((d) => d.bad)), extras)
      .map(([parts, extra]) => [...parts.flat(), ...extra]),
  };
  const body = op.body
    ? op.body.contentType.includes('json')
      ? jsonBodyDimension(doc, op.body.schema, hints)
      : rawBodyDimension()
    : strayBodyDimension(op.method);
  const auth = authDimension();
  const headers = headersDimension(op);
  const focus = weighted<Focus>(
    [25, fc.constant('none')],
    [variable.length ? 15 : 0, fc.constant('path')],
    [queryDims.length ? 10 : 2, fc.constant('query')],
    [12, fc.constant('auth')],
    [8, fc.constant('headers')],
    [op.body ? 18 : 5, fc.constant('body')],
    [10, fc.constant('all')],
  );
  const pick = <T>(dimension: Dimension<T>, name: Focus, f: Focus) =>
    f === 'all' ? either(dimension) : f === name ? dimension.bad : dimension.good;
  return fc.tuple(focus, hints.fixture).chain(([f, fixture]) =>
    fc
      .record({
        path: f === 'all' ? all.path : pick(path, 'path', f),
        query: pick(query, 'query', f),
        auth: pick(auth, 'auth', f),
        headers: pick(headers, 'headers', f),
        body: pick(body, 'body', f),
      })
      .map(({ path: p, query: q, auth: a, headers: h, body: b }): FuzzRequest => ({
        op: op.key,
        method: op.method,
        focus: f,
        fixture,
        path: p,
        query: q,
        auth: a,
        headers: h,
        contentType: b.contentType,
        body: op.method === 'HEAD' ? null : b.body,
      })),
  );
}

// ---------------------------------------------------------------------------------------------
// Checking answers

export interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly body: Buffer;
}

/** What is wrong with an answer under the contract (docs/http-contract.md), or null. */
export function contractViolation(method: string, answer: Answer): string | null {
  if (answer.status >= 500) return `status ${answer.status}`;
  if (answer.status < 400) return null;
  const problemType = answer.contentType.toLowerCase().startsWith('application/problem+json');
  // HEAD answers the headers of the GET: the problem's Content-Type, without the body.
  if (method === 'HEAD')
    return problemType || !answer.contentType
      ? null
      : `${answer.status} to HEAD with Content-Type ${JSON.stringify(answer.contentType)}`;
  if (answer.body.length === 0) return null;
  if (!problemType)
    return `${answer.status} with Content-Type ${JSON.stringify(answer.contentType)}`;
  let problem: Record<string, unknown>;
  try {
    problem = JSON.parse(answer.body.toString('utf8')) as Record<string, unknown>;
  } catch {
    return `${answer.status} problem body is not JSON`;
  }
  const missing = ['type', 'title', 'code'].filter((k) => typeof problem[k] !== 'string');
  if (missing.length) return `${answer.status} problem without ${missing.join(', ')}`;
  if (problem.status !== answer.status)
    return `${answer.status} problem says status ${JSON.stringify(problem.status)}`;
  if (!/^[A-Z][A-Z0-9_]*$/.test(problem.code as string))
    return `${answer.status} problem code ${JSON.stringify(problem.code)}`;
  return null;
}

// ---------------------------------------------------------------------------------------------
// Raw sockets, for framing the HTTP client will not write

export interface RawExchange {
  /** The first answer's status, or null when the server closed without one. */
  readonly status: number | null;
  readonly contentType: string;
  readonly body: Buffer;
  readonly closed: boolean;
}

/**
 * Writes `bytes` on a new connection (half-closing after when `end`, closing at once when
 * `hangUp`), and reads back the first answer; the server closing without one is an outcome too.
 * Nothing within `ms` is a hang.
 */
export function rawExchange(
  url: string,
  bytes: Buffer,
  {
    end = false,
    hangUp = false,
    ms = 30_000,
  }: { end?: boolean; hangUp?: boolean; ms?: number } = {},
): Promise<RawExchange> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host: hostname, port: Number(port) });
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const data = Buffer.concat(chunks);
      const headEnd = data.indexOf('\r\n\r\n');
      const head = headEnd >= 0 ? data.toString('latin1', 0, headEnd) : '';
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1];
      const contentType = /\r\ncontent-type:\s*([^\r]*)/i.exec(head)?.[1] ?? '';
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
      const body =
        headEnd >= 0 ? data.subarray(headEnd + 4, headEnd + 4 + length) : Buffer.alloc(0);
      if (!status && !closed) reject(new Error(`no answer and no close after ${ms} ms`));
      else resolve({ status: status ? Number(status) : null, contentType, body, closed });
    };
    const timer = setTimeout(() => finish(false), ms);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      const data = Buffer.concat(chunks);
      const headEnd = data.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      const length = Number(
        /\r\ncontent-length:\s*(\d+)/i.exec(data.toString('latin1', 0, headEnd))?.[1] ?? 0,
      );
      if (data.length >= headEnd + 4 + length) finish(false);
    });
    socket.on('close', () => finish(true));
    socket.on('error', () => undefined);
    socket.write(bytes, () => {
      if (hangUp) finish(true);
      else if (end) socket.end();
    });
  });
}
