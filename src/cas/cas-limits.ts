/**
 * The limits of the upload protocol (docs/uploads.md), in one place. Durations an operator tunes
 * (session lifetime, verification wait, GC grace) are configuration (AppConfig.cas); these are
 * part of the protocol and the same on every server.
 */
export const MIB = 1024 * 1024;
export const GIB = 1024 * MIB;

export const MIN_PART_NUMBER = 1;
export const MAX_PART_NUMBER = 10_000;
/** Every part but the last must be at least this big (as in S3). */
export const MIN_NON_FINAL_PART_SIZE = 5 * MIB;
export const MAX_PART_SIZE = 5 * GIB;
/** The largest blob the protocol can carry: 10 000 parts of 5 GiB. */
export const MAX_BLOB_SIZE = MAX_PART_NUMBER * MAX_PART_SIZE;
/** The longest media type or file name hint a session keeps. */
export const MAX_HINT_LENGTH = 255;
