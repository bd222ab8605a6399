import { isAlias, isMap, isScalar, parseDocument, type Document, type Node } from 'yaml';

/**
 * The metadata.yaml of an Incus image: what imgsrv reads of it, and how the text is validated.
 * The tarball scanner (metadata-tarball.ts) finds the file; this reads it.
 */

/** The parsed `metadata.yaml` of an Incus image (the fields imgsrv uses). */
export interface IncusMetadata {
  /** As written in the tarball: Incus accepts kernel names (`x86_64`) and aliases (`amd64`). */
  readonly architecture: string;
  /** Seconds since the epoch. */
  readonly creation_date: number;
  readonly expiry_date?: number;
  /** `os`, `release`, `variant`, `architecture`, `description`, `serial`, … as strings. */
  readonly properties: Readonly<Record<string, string>>;
}

export type IncusMetadataErrorCode =
  | 'NOT_XZ'
  | 'XZ_INVALID'
  | 'NOT_TAR'
  | 'METADATA_MISSING'
  | 'METADATA_TOO_LARGE'
  | 'METADATA_YAML_INVALID'
  | 'METADATA_FIELD_INVALID';

/**
 * Why a metadata tarball was refused. The message is written for the uploader and never carries a
 * library's own error text; `field` names the metadata.yaml key at fault, if one is.
 */
export class IncusMetadataError extends Error {
  constructor(
    readonly code: IncusMetadataErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'IncusMetadataError';
  }
}

/**
 * Validates the metadata.yaml text. Property values keep their text as written, the way Incus
 * (Go, `map[string]string`) reads them: an unquoted `release: 3.10` stays "3.10", not 3.1.
 */
export function parseMetadataYaml(text: string): IncusMetadata {
  const doc = parseDocument(text);
  const [error] = doc.errors;
  if (error) {
    const where = error.linePos ? ` at line ${error.linePos[0].line}` : '';
    throw new IncusMetadataError(
      'METADATA_YAML_INVALID',
      `metadata.yaml is not valid YAML (${error.code}${where}).`,
    );
  }
  const root = resolve(doc, doc.contents);
  if (!isMap(root)) {
    throw new IncusMetadataError('METADATA_YAML_INVALID', 'metadata.yaml is not a YAML mapping.');
  }
  const field = (key: string) => resolve(doc, root.get(key, true) as Node | undefined);

  const architecture = field('architecture');
  if (
    !isScalar(architecture) ||
    typeof architecture.value !== 'string' ||
    architecture.value.trim() === ''
  ) {
    throw invalidField('architecture', 'metadata.yaml must name the architecture as a string.');
  }

  const creationDate = timestamp(field('creation_date'));
  if (creationDate === undefined) {
    throw invalidField('creation_date', 'metadata.yaml must give creation_date in epoch seconds.');
  }
  const expiryNode = field('expiry_date');
  const expiryDate = expiryNode === undefined ? undefined : timestamp(expiryNode);
  if (expiryNode !== undefined && expiryDate === undefined) {
    throw invalidField('expiry_date', 'expiry_date in metadata.yaml must be in epoch seconds.');
  }

  return {
    architecture: architecture.value,
    creation_date: creationDate,
    ...(expiryDate === undefined ? {} : { expiry_date: expiryDate }),
    properties: properties(doc, field('properties')),
  };
}

function resolve(doc: Document, node: Node | null | undefined): Node | undefined {
  const resolved = isAlias(node) ? node.resolve(doc) : node;
  return resolved ?? undefined;
}

function timestamp(node: Node | undefined): number | undefined {
  if (!isScalar(node)) return undefined;
  const { value } = node;
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

function properties(doc: Document, node: Node | undefined): Record<string, string> {
  if (node === undefined || (isScalar(node) && node.value === null)) return {};
  if (!isMap(node)) {
    throw invalidField('properties', 'properties in metadata.yaml must be a mapping.');
  }
  const entries: [string, string][] = [];
  for (const pair of node.items) {
    const key = resolve(doc, pair.key as Node | null);
    const value = resolve(doc, pair.value as Node | null);
    if (!isScalar(key) || !isScalar(value)) {
      throw invalidField('properties', 'properties in metadata.yaml must map strings to strings.');
    }
    entries.push([scalarText(key), scalarText(value)]);
  }
  // fromEntries defines own properties, so a `__proto__` key is data, not a prototype.
  return Object.fromEntries(entries);
}

function scalarText(node: { value: unknown; source?: string }): string {
  if (typeof node.value === 'string') return node.value;
  if (node.value === null || node.value === undefined) return '';
  return node.source ?? String(node.value);
}

function invalidField(field: string, message: string): IncusMetadataError {
  return new IncusMetadataError('METADATA_FIELD_INVALID', message, field);
}
