import { Controller, Get, Header } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiProblems } from '../common/http/api-problems.decorator';
import { HealthResponseDto, ReadinessResponseDto } from './dto/health.response.dto';
import { ReadinessService } from './readiness.service';

@ApiTags('health')
@Controller()
export class HealthController {
  constructor(private readonly readiness: ReadinessService) {}

  @Get('healthz')
  @Header('cache-control', 'no-store')
  @ApiOperation({ summary: 'Liveness: 200 while the process runs' })
  @ApiOkResponse({ type: HealthResponseDto })
  getHealth(): HealthResponseDto {
    return { status: 'ok' };
  }

  @Get('readyz')
  @Header('cache-control', 'no-store')
  @ApiOperation({ summary: 'Readiness: 200 when PostgreSQL, Redis and the blob store answer' })
  @ApiOkResponse({ type: ReadinessResponseDto })
  @ApiProblems()
  async getReadiness(): Promise<ReadinessResponseDto> {
    return { status: 'ok', checks: await this.readiness.check() };
  }
}
