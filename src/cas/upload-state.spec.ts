import {
  canMove,
  effectiveState,
  isOpen,
  isStalled,
  isTerminal,
  UPLOAD_STATES,
} from './upload-state';

describe('upload session states', () => {
  it('moves forward only', () => {
    expect(canMove('created', 'uploading')).toBe(true);
    expect(canMove('uploading', 'completed')).toBe(true);
    expect(canMove('completed', 'verifying')).toBe(true);
    expect(canMove('verifying', 'ready')).toBe(true);
    expect(canMove('verifying', 'failed')).toBe(true);
    expect(canMove('uploading', 'created')).toBe(false);
    expect(canMove('completed', 'aborted')).toBe(false);
    expect(canMove('verifying', 'expired')).toBe(false);
  });

  it('lets abort end a verification only while it is stalled for lack of space', () => {
    expect(canMove('verifying', 'aborted')).toBe(true);
    expect(isStalled('verifying', 'The blob store ran out of space …')).toBe(true);
    expect(isStalled('verifying', null)).toBe(false);
    expect(isStalled('completed', null)).toBe(false);
    expect(isStalled('failed', 'The uploaded content hashes to …')).toBe(false);
  });

  it('never leaves a terminal state', () => {
    for (const from of UPLOAD_STATES.filter(isTerminal)) {
      for (const to of UPLOAD_STATES) expect(canMove(from, to)).toBe(false);
    }
  });

  it('sees an open session past its expiry as expired', () => {
    const now = new Date('2026-01-02T00:00:00Z');
    const past = new Date('2026-01-01T00:00:00Z');
    const future = new Date('2026-01-03T00:00:00Z');
    expect(effectiveState('uploading', past, now)).toBe('expired');
    expect(effectiveState('created', future, now)).toBe('created');
    expect(effectiveState('verifying', past, now)).toBe('verifying');
    expect(isOpen('created')).toBe(true);
    expect(isOpen('completed')).toBe(false);
  });
});
