import { Controller, Get, Header } from '@nestjs/common';
import {
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import { ProblemDto } from '../common/http/problem.dto';
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
  @ApiServiceUnavailableResponse({
    type: ProblemDto,
    description: 'A dependency is unavailable; the problem names it',
  })
  async getReadiness(): Promise<ReadinessResponseDto> {
    return { status: 'ok', checks: await this.readiness.check() };
  }
}
