import type { INestApplication, Type } from '@nestjs/common';
import { ModulesContainer } from '@nestjs/core';
import { DocumentBuilder, type OpenAPIObject } from '@nestjs/swagger';
import { declaredScopes } from './workspace-auth';

const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

/**
 * The frame of a service's API description: title, description, version, and the two security schemes
 * (`writeKey`, `bearer`) that `annotateRouteScopes` names on each guarded route.
 */
export function keyedApiConfig(title: string, description: string): Omit<OpenAPIObject, 'paths'> {
  return new DocumentBuilder()
    .setTitle(title)
    .setDescription(description)
    .setVersion('1')
    .addBasicAuth({ type: 'http', scheme: 'basic', description: 'Write key as the user name.' }, 'writeKey')
    .addBearerAuth(
      { type: 'http', scheme: 'bearer', description: 'Write key or OAuth2 access token.' },
      'bearer',
    )
    .build();
}

/**
 * Names in an API description the scopes each route declares (`x-required-scopes`, and in its description), with
 * the write key and bearer schemes as its security; a route that declares none is public and described by
 * `publicDescription(path)`.
 */
export function annotateRouteScopes(
  app: INestApplication,
  document: OpenAPIObject,
  publicDescription: (path: string) => string,
): OpenAPIObject {
  const controllers = [...app.get(ModulesContainer).values()].flatMap((module) =>
    [...module.controllers.values()].map((wrapper) => wrapper.metatype as Type<unknown>),
  );
  const byName = new Map(controllers.map((controller) => [controller.name, controller]));
  for (const [path, item] of Object.entries(document.paths))
    for (const method of METHODS) {
      const operation = item[method];
      if (!operation?.operationId) continue;
      // Nest's operation ids are `<Controller>_<method>`.
      const [controllerName, handlerName] = operation.operationId.split('_');
      const handler = (byName.get(controllerName ?? '')?.prototype as Record<string, unknown> | undefined)?.[
        handlerName ?? ''
      ];
      if (typeof handler !== 'function') continue;
      const scopes = declaredScopes(handler);
      if (scopes.all.length === 0 && scopes.any.length === 0) {
        operation.security = [];
        operation.description = publicDescription(path);
        continue;
      }
      operation.security = [{ writeKey: [] }, { bearer: [] }];
      (operation as unknown as Record<string, unknown>)['x-required-scopes'] =
        scopes.all.length > 0 ? scopes.all : scopes.any;
      operation.description =
        scopes.all.length > 0
          ? `Scopes: ${scopes.all.join(', ')}.`
          : `Scopes: one of ${scopes.any.join(', ')}.`;
    }
  return document;
}
