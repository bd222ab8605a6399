import { generateKeyPairSync } from 'node:crypto';
import { canonicalJson } from './jcs';
import { envelopeSignedBy, preAuthEncoding, signEnvelope } from './dsse';
import {
  checkpointText,
  noteSignedBy,
  parseCheckpointText,
  parseNote,
  signNote,
} from './signed-note';
import { parseTilePath, tileIndexPath, tilePath } from './tiles';

describe('tlog-tiles paths', () => {
  it.each([
    [0, '000'],
    [7, '007'],
    [1000, 'x001/000'],
    [1234067, 'x001/x234/067'],
  ])('index %p is written %p', (n, path) => {
    expect(tileIndexPath(n)).toBe(path);
    expect(parseTilePath(`0/${path}`)).toEqual({ level: 0, index: n, width: 256 });
  });

  it('reads partial tiles and entry bundles, and refuses other spellings', () => {
    expect(parseTilePath('2/x001/234.p/17')).toEqual({ level: 2, index: 1234, width: 17 });
    expect(parseTilePath('entries/000.p/3')).toEqual({ level: 'entries', index: 0, width: 3 });
    expect(tilePath({ level: 1, index: 5, width: 9 })).toBe('tile/1/005.p/9');
    for (const bad of [
      '',
      '0',
      '64/000',
      '01/000',
      '0/0',
      '0/x000/001',
      '0/001/002',
      '0/000.p/0',
      '0/000.p/256',
      '0/000.p/07',
      '0/000.p',
      'x/000',
      '0/-01',
    ])
      expect(parseTilePath(bad)).toBeNull();
  });
});

describe('signed notes and checkpoints', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const other = generateKeyPairSync('ed25519');
  const root = Buffer.alloc(32, 9);
  const note = signNote(
    checkpointText({ origin: 'example.com/log', size: 12, root }),
    'example.com/log',
    privateKey,
    publicKey,
  );

  it('writes the C2SP layout: text, blank line, em-dash signature lines', () => {
    expect(note).toMatch(
      /^example\.com\/log\n12\n[A-Za-z0-9+/]{43}=\n\n\u2014 example\.com\/log [A-Za-z0-9+/=]+\n$/u,
    );
    const parsed = parseNote(note);
    expect(parsed && noteSignedBy(parsed, 'example.com/log', publicKey)).toBe(true);
    expect(parseCheckpointText(parsed!.text)).toEqual({
      origin: 'example.com/log',
      size: 12,
      root,
    });
  });

  it('does not verify with another key, another name or changed text', () => {
    const parsed = parseNote(note)!;
    expect(noteSignedBy(parsed, 'example.com/log', other.publicKey)).toBe(false);
    expect(noteSignedBy(parsed, 'example.com/other', publicKey)).toBe(false);
    expect(
      noteSignedBy(
        { ...parsed, text: parsed.text.replace('12', '13') },
        'example.com/log',
        publicKey,
      ),
    ).toBe(false);
    expect(parseNote(note.replace('\n\n', '\n'))).toBeNull();
    expect(parseCheckpointText('o\n012\nAAAA\n')).toBeNull();
  });
});

describe('DSSE and RFC 8785', () => {
  it('encodes PAE as the DSSE specification shows', () => {
    expect(
      preAuthEncoding('http://example.com/HelloWorld', Buffer.from('hello world')).toString(),
    ).toBe('DSSEv1 29 http://example.com/HelloWorld 11 hello world');
  });

  it('signs an envelope that verifies with its key only', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const envelope = signEnvelope('application/x', Buffer.from('{}'), 'k', privateKey);
    expect(envelopeSignedBy(envelope, publicKey)).toBe(true);
    expect(envelopeSignedBy({ ...envelope, payloadType: 'application/y' }, publicKey)).toBe(false);
    expect(envelopeSignedBy(envelope, generateKeyPairSync('ed25519').publicKey)).toBe(false);
  });

  it('canonicalises JSON with sorted keys and ECMAScript number and string forms', () => {
    expect(
      canonicalJson({ b: [1, 'é', null, true], a: { d: 1e21, c: 0.5 }, '\u20ac': 1, '\r': 2 }),
    ).toBe('{"\\r":2,"a":{"c":0.5,"d":1e+21},"b":[1,"é",null,true],"€":1}');
    expect(() => canonicalJson({ a: Number.NaN })).toThrow(TypeError);
  });
});
