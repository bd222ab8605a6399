import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import type { Principal } from '../auth/principal';
import { RequireAction } from '../auth/require-action.decorator';
import { ApiProblems } from '../common/http/api-problems.decorator';
import { CatalogService } from './catalog.service';
import { StorageResponseDto } from './dto/catalog.response.dto';

@ApiTags('images')
@ApiBearerAuth('bearer')
@Controller('v1/storage')
export class StorageController {
  constructor(private readonly catalog: CatalogService) {}

  @Get()
  @RequireAction('content.read')
  @ApiOperation({
    summary:
      'Where the storage goes, over the images the caller may read: the bytes their versions ' +
      'cite (each blob once; purged versions cite nothing) and per image the bytes no other ' +
      'image cites (of images outside its scope, only published versions count, and only when ' +
      'public reads are on)',
  })
  @ApiOkResponse({ type: StorageResponseDto })
  @ApiProblems(401, 403)
  async getStorage(@CurrentPrincipal() principal: Principal | null): Promise<StorageResponseDto> {
    const total = await this.catalog.storageTotal(principal);
    return { bytes: total.bytes, bytes_unique_by_image: total.bytesUniqueByImage };
  }
}
