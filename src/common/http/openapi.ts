import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { version } from '../../../package.json';

/** The OpenAPI document of the running application; controller method names are operation ids. */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('imgsrv')
    .setDescription(
      'An image server for Incus: content-addressed uploads, versioned release manifests, immutable ' +
        'publishing, movable aliases, and an Incus Simple Streams remote. Errors are RFC 9457 ' +
        'application/problem+json with a stable `code`.',
    )
    .setVersion(version)
    .addBearerAuth(
      {
        type: 'http',
        scheme: 'bearer',
        description: 'imgsrv_<id>_<secret> API token, or an OIDC JWT',
      },
      'bearer',
    )
    .addBasicAuth(
      {
        type: 'http',
        scheme: 'basic',
        description:
          'Any user name, an API token as the password (streams and downloads in private mode)',
      },
      'basic',
    )
    .build();
  return SwaggerModule.createDocument(app, config, {
    operationIdFactory: (_controllerKey, methodKey) => methodKey,
  });
}
