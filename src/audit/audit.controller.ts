import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { RequireAction } from '../auth/require-action.decorator';
import { ApiProblems } from '../common/http/api-problems.decorator';
import { DEFAULT_PAGE_SIZE, pageResponse } from '../common/pagination';
import { AuditService } from './audit.service';
import { AuditEventListResponseDto, AuditEventQueryDto } from './dto/audit-event.dto';

@ApiTags('audit')
@ApiBearerAuth('bearer')
@Controller('v1/audit-events')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @Get()
  @RequireAction('audit.read')
  @ApiOperation({ summary: 'Audit events, newest first' })
  @ApiOkResponse({ type: AuditEventListResponseDto })
  @ApiProblems(400, 401, 403)
  async listAuditEvents(@Query() query: AuditEventQueryDto): Promise<AuditEventListResponseDto> {
    const page = await this.audit.list(
      { action: query.action, image: query.image, principalId: query.principal_id },
      query.limit ?? DEFAULT_PAGE_SIZE,
      query.cursor,
    );
    return pageResponse('audit_events', page, (e) => ({
      id: String(e.id),
      occurred_at: e.occurredAt.toISOString(),
      principal_id: e.principalId,
      principal_name: e.principalName,
      action: e.action,
      target_type: e.targetType,
      target_id: e.targetId,
      image_name: e.imageName,
      request_id: e.requestId,
      detail: e.detail,
    }));
  }
}
