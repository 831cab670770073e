// Where tests find d2l's data files (../shared/data next to the checkout). A clone
// elsewhere can point KILN_DATA_DIR at them.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace kiln::testing {

inline std::string shared_data_dir() {
  const char* env = std::getenv("KILN_DATA_DIR");
  for (std::string dir : {std::string(env ? env : ""), std::string(KILN_SHARED_DATA),
                          std::string("/work/shared/data")}) {
    if (!dir.empty() && std::filesystem::exists(dir + "/kaggle_house_pred_train.csv")) return dir;
  }
  return KILN_SHARED_DATA;  // tests then fail with the loader's error naming the path
}

}  // namespace kiln::testing
