// s3rver on a given port and directory: `node s3rver-child.mjs PORT DIR BUCKET[,BUCKET…]`.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const S3rver = require('s3rver');
const [port, directory, buckets] = process.argv.slice(2);
const server = new S3rver({
  port: Number(port),
  address: '127.0.0.1',
  silent: true,
  directory,
  configureBuckets: buckets.split(',').map((name) => ({ name })),
});
await server.run();
process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
