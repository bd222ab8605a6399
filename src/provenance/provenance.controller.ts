import { Controller, Get, Param, Query, Req, Res } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiProduces,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import type { Principal } from '../auth/principal';
import { PublicRead } from '../auth/require-action.decorator';
import { VersionParamsDto } from '../catalog/dto/catalog.request.dto';
import { ApiProblems } from '../common/http/api-problems.decorator';
import {
  ConsistencyProofDto,
  ConsistencyProofQueryDto,
  InclusionProofDto,
  InclusionProofQueryDto,
  ProvenanceKeysDto,
  VersionProvenanceDto,
  type ProvenanceRecordDto,
} from './dto/provenance.dto';
import { LogReader } from './log-reader';
import { ProvenanceService, type ServedRecord } from './provenance.service';

const recordDto = (r: ServedRecord): ProvenanceRecordDto => ({
  kind: r.kind,
  log_index: r.logIndex,
  integrated_at: r.integratedAt.toISOString(),
  record: r.envelope as unknown as Record<string, unknown>,
  bundle: r.bundle,
});

/**
 * Provenance: the signing keys, each version's signed records, and the transparency log as
 * C2SP checkpoints and tiles plus RFC 6962 proofs. The log holds only hashes and signatures, so
 * it is open to everyone; a version's records are as visible as the version.
 */
@ApiTags('provenance')
@ApiBearerAuth('bearer')
@Controller()
export class ProvenanceController {
  constructor(
    private readonly provenance: ProvenanceService,
    private readonly reader: LogReader,
  ) {}

  @Get('v1/provenance/keys')
  @ApiOperation({
    summary:
      'The Ed25519 public keys that sign records and checkpoints: the active one and retired ones that still verify',
  })
  @ApiOkResponse({ type: ProvenanceKeysDto })
  async keys(): Promise<ProvenanceKeysDto> {
    return this.reader.keys();
  }

  @Get('v1/images/:name/versions/:version/provenance')
  @PublicRead({ imageParam: 'name' })
  @ApiOperation({
    summary:
      'The version’s publication record (a DSSE envelope over an in-toto statement), its Sigstore ' +
      'bundle with an inclusion proof at the latest checkpoint, and its withdrawal record once ' +
      'withdrawn; 404 PROVENANCE_NOT_FOUND for a version never published',
  })
  @ApiOkResponse({ type: VersionProvenanceDto })
  @ApiProblems(400, 401, 403, 404)
  async versionProvenance(
    @CurrentPrincipal() principal: Principal | null,
    @Param() params: VersionParamsDto,
  ): Promise<VersionProvenanceDto> {
    const records = await this.provenance.recordsOf(principal, params.name, params.version);
    const published = records.find((r) => r.kind === 'publication') ?? records[0];
    const withdrawal = records.find((r) => r.kind === 'withdrawal');
    return { ...recordDto(published), withdrawal: withdrawal ? recordDto(withdrawal) : null };
  }

  @Get('v1/provenance/log/checkpoint')
  @ApiOperation({
    summary: 'The latest signed checkpoint of the transparency log (C2SP tlog-checkpoint note)',
  })
  @ApiProduces('text/plain; charset=utf-8')
  @ApiOkResponse({
    description: 'origin, tree size and root hash, then the signature lines',
    type: String,
  })
  async checkpoint(@Res() reply: FastifyReply): Promise<FastifyReply> {
    const checkpoint = await this.reader.latestCheckpoint();
    return reply
      .header('cache-control', 'no-cache')
      .type('text/plain; charset=utf-8')
      .send(checkpoint.note);
  }

  @Get('v1/provenance/log/tile/*')
  @ApiOperation({
    summary:
      'A tile of the log (C2SP tlog-tiles): `<L>/<N>[.p/<W>]` hashes, or `entries/<N>[.p/<W>]` ' +
      'entry bundles; immutable once served',
  })
  @ApiParam({
    name: 'path',
    type: String,
    description: 'The tile path after tile/, e.g. 0/x001/234.p/17',
  })
  @ApiProduces('application/octet-stream')
  @ApiOkResponse({ description: 'The tile’s bytes' })
  @ApiProblems(404)
  async tile(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<FastifyReply> {
    const path = (request.params as Record<string, string>)['*'] ?? '';
    const bytes = await this.reader.tile(path);
    return reply
      .header('cache-control', 'public, max-age=31536000, immutable')
      .type('application/octet-stream')
      .send(bytes);
  }

  @Get('v1/provenance/log/proof/inclusion')
  @ApiOperation({
    summary: 'An RFC 6962 inclusion proof of an entry in a tree size (the latest by default)',
  })
  @ApiOkResponse({ type: InclusionProofDto })
  @ApiProblems(400)
  async inclusion(@Query() query: InclusionProofQueryDto): Promise<InclusionProofDto> {
    return this.reader.inclusion(query.index, query.tree_size ?? null);
  }

  @Get('v1/provenance/log/proof/consistency')
  @ApiOperation({
    summary: 'An RFC 6962 consistency proof between two tree sizes (to: the latest by default)',
  })
  @ApiOkResponse({ type: ConsistencyProofDto })
  @ApiProblems(400)
  async consistency(@Query() query: ConsistencyProofQueryDto): Promise<ConsistencyProofDto> {
    return this.reader.consistency(query.from, query.to ?? null);
  }
}
