// The file manager plugin (NocoBase's plugin-file-manager, local storage): the `attachments`
// and `storages` collections, attachments:create taking a multipart upload (field `file`)
// streamed to <STORAGE_PATH>/uploads, the `attachment` field type (a belongsToMany to
// attachments, data/schema.h), and the removal of a file with its record. The files are served
// at /storage/uploads/<filename> (http/static_files.h, wired by the application). Settings:
// maxFileSize (bytes; NocoBase's default 20 MB) and allowedMimeTypes ("*", or a comma-separated
// list such as "image/*, application/pdf"). See docs/files.md.
#pragma once

#include <memory>

#include "slipway/plugin.h"

namespace slipway::plugins {

std::unique_ptr<slipway::Plugin> MakeFileManagerPlugin();

}  // namespace slipway::plugins
