import { Controller, Get, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { ApiErrorResponses } from './api-error-responses';

@ApiErrorResponses(400, 401, 403, 503)
@Controller('things')
class ThingsController {
  @Get()
  list(): string[] {
    return [];
  }
}

@Module({ controllers: [ThingsController] })
class ThingsModule {}

describe('ApiErrorResponses', () => {
  it('puts each error status, with the error body and Retry-After on 503, into the OpenAPI document', async () => {
    const moduleRef = await Test.createTestingModule({ imports: [ThingsModule] }).compile();
    const app = moduleRef.createNestApplication();
    await app.init();
    const document = SwaggerModule.createDocument(app, new DocumentBuilder().addBearerAuth().build());
    await app.close();

    const responses = document.paths['/things']!.get!.responses as Record<string, any>;
    expect(Object.keys(responses).sort()).toEqual(['200', '400', '401', '403', '503']);
    expect(responses['400'].content['application/json'].schema.properties.issues.type).toBe('array');
    expect(responses['503'].headers['Retry-After']).toBeDefined();
    expect(document.paths['/things']!.get!.security).toEqual([{ bearer: [] }]);
  });
});
