#include "runtime/safetensors_writer.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "runtime/safetensors.h"
#include "runtime/str_util.h"

namespace sov {

uint16_t FloatToBF16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

absl::Status SafetensorsWriter::Add(std::string_view name, std::string_view dtype,
                                    std::vector<int64_t> shape, std::string_view bytes) {
  const std::optional<int> size = SafetensorsDTypeSize(dtype);
  if (!size) return absl::InvalidArgumentError(absl::StrCat("unknown dtype \"", Av(dtype), "\""));
  if (name == "__metadata__") {
    return absl::InvalidArgumentError("\"__metadata__\" is reserved, not a tensor name");
  }
  for (const Entry& e : entries_) {
    if (e.name == name) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate tensor name \"", Av(name), "\""));
    }
  }
  uint64_t numel = 1;
  for (int64_t d : shape) {
    if (d < 0)
      return absl::InvalidArgumentError(absl::StrCat("negative dim in \"", Av(name), "\""));
    numel *= static_cast<uint64_t>(d);
  }
  if (numel * static_cast<uint64_t>(*size) != bytes.size()) {
    return absl::InvalidArgumentError(absl::StrCat("tensor \"", Av(name), "\": ", bytes.size(),
                                                   " bytes given, shape needs ",
                                                   numel * static_cast<uint64_t>(*size)));
  }
  entries_.push_back(
      {std::string(name), std::string(dtype), *size, std::move(shape), std::string(bytes)});
  return absl::OkStatus();
}

absl::Status SafetensorsWriter::AddF32(std::string_view name, std::vector<int64_t> shape,
                                       std::span<const float> values) {
  return Add(name, "F32", std::move(shape),
             std::string_view(reinterpret_cast<const char*>(values.data()), values.size_bytes()));
}

absl::Status SafetensorsWriter::AddBF16(std::string_view name, std::vector<int64_t> shape,
                                        std::span<const float> values) {
  std::vector<uint16_t> bits(values.size());
  for (size_t i = 0; i < values.size(); ++i) bits[i] = FloatToBF16(values[i]);
  return Add(name, "BF16", std::move(shape),
             std::string_view(reinterpret_cast<const char*>(bits.data()), bits.size() * 2));
}

void SafetensorsWriter::SetMetadata(std::string_view key, std::string_view value) {
  metadata_[std::string(key)] = std::string(value);
}

std::string SafetensorsWriter::Serialize() const {
  std::vector<const Entry*> order;
  for (const Entry& e : entries_) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
    return a->element_size != b->element_size ? a->element_size > b->element_size
                                              : a->name < b->name;
  });
  nlohmann::json header = nlohmann::json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  uint64_t offset = 0;
  for (const Entry* e : order) {
    header[e->name] = {{"dtype", e->dtype},
                       {"shape", e->shape},
                       {"data_offsets", {offset, offset + e->bytes.size()}}};
    offset += e->bytes.size();
  }
  std::string json = header.dump();
  json.resize((json.size() + 7) / 8 * 8, ' ');  // data section starts 8-aligned
  std::string out;
  out.reserve(8 + json.size() + offset);
  const uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out += json;
  for (const Entry* e : order) out += e->bytes;
  return out;
}

absl::Status SafetensorsWriter::WriteFile(const std::string& path) const {
  const std::string image = Serialize();
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) {
    return absl::InternalError(absl::StrCat("cannot create ", tmp, ": ", std::strerror(errno)));
  }
  const size_t wrote = std::fwrite(image.data(), 1, image.size(), f);
  const bool closed = std::fclose(f) == 0;
  if (wrote != image.size() || !closed) {
    std::remove(tmp.c_str());
    return absl::InternalError(absl::StrCat("cannot write ", tmp, ": ", std::strerror(errno)));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    return absl::InternalError(
        absl::StrCat("cannot rename ", tmp, " to ", path, ": ", std::strerror(err)));
  }
  return absl::OkStatus();
}

}  // namespace sov
