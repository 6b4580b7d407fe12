/**
 * @silica/coreml-format — the on-disk formats of a Core ML ML Program package
 * (shared/reference/mlpackage-format.md):
 *
 *  - the protobuf schema of `model.mlmodel` (Model / FeatureTypes / MIL), generated from
 *    our own `.proto` files (`proto/`) by `npm run protogen`;
 *  - blob storage v2 (`weight.bin`): a streaming `BlobWriter` and a checking `BlobReader`;
 *  - `Manifest.json`: read with validation, write in Core ML's exact textual form.
 *
 * Every malformed input is reported as a `SilicaFormatError`.
 */
export * from './gen/Model_pb.js';
export * from './gen/FeatureTypes_pb.js';
export * from './gen/MIL_pb.js';
// The protobuf-es runtime calls needed to build, encode and decode the messages above,
// re-exported so that users get the exact runtime version the generated code was made for.
export { create, fromBinary, toBinary, clone, equals, isMessage } from '@bufbuild/protobuf';
export type { MessageInitShape, MessageShape } from '@bufbuild/protobuf';

export { SilicaFormatError, describeLocation } from './errors.js';
export type { FormatLocation, SilicaFormatErrorDetails } from './errors.js';

export { decodeModel, encodeModel, readModelFile, mlProgramOf } from './model.js';

export {
  BLOB_ALIGNMENT,
  BLOB_HEADER_SIZE,
  BLOB_METADATA_SIZE,
  BLOB_SENTINEL,
  BLOB_STORAGE_VERSION,
  align64,
  encodeStorageHeader,
  decodeStorageHeader,
  encodeBlobMetadata,
  decodeBlobMetadata,
} from './blob-format.js';
export type { BlobStorageHeaderRecord, BlobMetadataRecord } from './blob-format.js';
export { blobSizeInBytes, blobPaddingBits, blobDTypes } from './blob-shape.js';
export { BlobWriter } from './blob-writer.js';
export type { BlobData } from './blob-writer.js';
export { BlobReader } from './blob-reader.js';
export { resolveBlobFile, DEFAULT_BLOB_FILE_NAME } from './blob-file.js';
export type { BlobMetadata } from './blob-reader.js';

export {
  MANIFEST_FILE_NAME,
  MANIFEST_DATA_DIR,
  MANIFEST_FILE_FORMAT_VERSION,
  COREML_AUTHOR,
  MODEL_ITEM_NAME,
  MODEL_ITEM_DESCRIPTION,
  WEIGHTS_ITEM_NAME,
  WEIGHTS_ITEM_DESCRIPTION,
  parseManifest,
  readManifest,
  formatManifest,
  writeManifest,
  createManifest,
  rootModelEntry,
  findItem,
  weightsEntry,
  itemPath,
} from './manifest.js';
export type { Manifest, ManifestItem, ManifestEntry, CreateManifestOptions } from './manifest.js';

export { randomIdentifier, deterministicIdentifier, uuidV5, isUuid, UUID_NAMESPACE_URL } from './uuid.js';
