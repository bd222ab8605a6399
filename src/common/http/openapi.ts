import type { INestApplication } from '@nestjs/common';
import {
  DocumentBuilder,
  SwaggerModule,
  type OpenAPIObject,
  type OperationObject,
  type ResponseObject,
} from '@nestjs/swagger';
import { version } from '../../../package.json';
import { HEAD_EXTENSION } from './api-conditional.decorator';

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
  const document = SwaggerModule.createDocument(app, config, {
    operationIdFactory: (_controllerKey, methodKey) => methodKey,
  });
  for (const item of Object.values(document.paths)) {
    const get = item.get as (OperationObject & { [HEAD_EXTENSION]?: boolean }) | undefined;
    if (!get?.[HEAD_EXTENSION]) continue;
    delete get[HEAD_EXTENSION];
    item.head = headOperation(get);
  }
  return document;
}

/** HEAD of a GET route: the same parameters, statuses and headers, and never a body. */
function headOperation(get: OperationObject): OperationObject {
  const responses = Object.fromEntries(
    Object.entries(get.responses).map(([status, response]) => {
      const { description, headers } = response as ResponseObject;
      return [status, headers ? { description, headers } : { description }];
    }),
  );
  return {
    ...get,
    operationId: get.operationId?.replace(/^get/, 'head'),
    summary: `Headers only: ${get.summary ?? ''}`.trim(),
    responses,
  };
}
