import { ApiProperty } from '@nestjs/swagger';
import { Matches } from 'class-validator';

const SHA256 = /^[0-9a-f]{64}$/;
const FILENAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$/;

export class StreamsItemParamsDto {
  @ApiProperty({ description: 'The sha256 of the bytes (lower-case hex)', pattern: SHA256.source })
  @Matches(SHA256, { message: `must match ${SHA256.source}` })
  sha256!: string;

  @ApiProperty({
    description:
      'A file name the documents give these bytes (`incus.tar.xz` or the root file name)',
    example: 'debian-12-20261123-amd64.squashfs',
  })
  @Matches(FILENAME, { message: `must match ${FILENAME.source}` })
  filename!: string;
}
