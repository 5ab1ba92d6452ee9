// The server's model registry: which models a configuration offers, names and aliases, loading
// once under concurrent requests, leases that keep a model resident, the TTL, unloading while
// requests run, and a model that fails to load. The loader hands out copies of one tiny.en
// loaded once, so that the tests exercise the registry, not model loading.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "service/api_error.h"
#include "service/model_registry.h"

namespace amanuensis::service {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

class ModelRegistryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const fs::path path = fs::path(AMANUENSIS_MODELS_DIR) / "tiny.en";
    if (fs::exists(path / "model.bin")) model_ = new Model(Model::load({.path = path}));
  }
  static void TearDownTestSuite() {
    delete model_;
    model_ = nullptr;
  }
  void SetUp() override {
    if (model_ == nullptr) GTEST_SKIP() << "no models/tiny.en";
  }

  // A registry of models "a" (the default) and "b" whose loader counts its calls, takes `delay`,
  // and fails for names in `failing`.
  std::unique_ptr<ModelRegistry> registry(std::chrono::duration<double> ttl,
                                          std::chrono::milliseconds delay = 0ms) {
    ModelCatalog catalog{{{"a", "/models/a"}, {"b", "/models/b"}}, 0};
    return std::make_unique<ModelRegistry>(
        catalog,
        [this, delay](const ModelSource& source) {
          ++loads_;
          std::this_thread::sleep_for(delay);
          if (source.name == failing_) throw Error("corrupt model.bin");
          return *model_;
        },
        ttl);
  }

  // Polls `done` for up to two seconds.
  template <typename Done>
  static bool eventually(Done done) {
    for (int i = 0; i < 200 && !done(); ++i) std::this_thread::sleep_for(10ms);
    return done();
  }

  static Model* model_;
  std::atomic<int> loads_{0};
  std::string failing_;
};

Model* ModelRegistryTest::model_ = nullptr;

TEST(ModelCatalogTest, FindsFoldersAndFilesSortedAndTheDefault) {
  const auto dir = fs::temp_directory_path() / ("models-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "small");
  fs::create_directories(dir / "base");
  fs::create_directories(dir / ".cache");
  std::ofstream(dir / "tiny.bin") << "x";
  const auto catalog = find_models({}, dir, "");
  ASSERT_EQ(catalog.models.size(), 3U);
  EXPECT_EQ(catalog.models[0].name, "base");
  EXPECT_EQ(catalog.models[1].name, "small");
  EXPECT_EQ(catalog.models[2].name, "tiny.bin");
  EXPECT_EQ(catalog.default_index, 0U);
  // --model comes first and is the default; the same folder through --models-dir is one model.
  const auto both = find_models({dir / "small/"}, dir, "");
  ASSERT_EQ(both.models.size(), 3U);
  EXPECT_EQ(both.models[both.default_index].name, "small");
  EXPECT_EQ(find_models({}, dir, "tiny.bin").default_index, 2U);
  EXPECT_THROW((void)find_models({}, dir, "large"), Error);
  EXPECT_THROW((void)find_models({"/elsewhere/base"}, dir, ""), Error);  // two named "base"
  EXPECT_THROW((void)find_models({}, dir / "missing", ""), Error);
  fs::create_directories(dir / "empty/.hidden");
  EXPECT_THROW((void)find_models({}, dir / "empty", ""), Error);
  fs::remove_all(dir);
}

TEST(ModelCatalogTest, OpenAiNamesStandForTheDefault) {
  for (const auto* name :
       {"", "whisper-1", "whisper-large", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"}) {
    EXPECT_TRUE(is_default_model_alias(name)) << name;
  }
  for (const auto* name : {"gpt-4", "base", "whisper"}) {
    EXPECT_FALSE(is_default_model_alias(name)) << name;
  }
  EXPECT_EQ(model_name_of("/m/tiny.en/"), "tiny.en");
}

TEST_F(ModelRegistryTest, ResolvesNamesAndAliases) {
  const auto models = registry(-1s);
  EXPECT_EQ(models->resolve("b"), "b");
  EXPECT_EQ(models->resolve("whisper-1"), "a");
  EXPECT_EQ(models->resolve(""), "a");
  try {
    (void)models->resolve("c");
    FAIL() << "resolved an unknown model";
  } catch (const ApiError& error) {
    EXPECT_EQ(error.status(), 404);
    EXPECT_EQ(error.code(), "model_not_found");
    EXPECT_EQ(error.param(), "model");
  }
  EXPECT_THROW((void)models->acquire("c"), ApiError);
}

TEST_F(ModelRegistryTest, ConcurrentRequestsLoadOnce) {
  const auto models = registry(-1s, 100ms);
  std::vector<std::jthread> threads;
  std::atomic<int> served{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      const auto lease = models->acquire("b");
      if (lease->info().name == "tiny.en") ++served;
    });
  }
  threads.clear();
  EXPECT_EQ(served, 8);
  EXPECT_EQ(loads_, 1);
  EXPECT_EQ(models->status("b").state, ModelState::kLoaded);
  EXPECT_EQ(models->status("a").state, ModelState::kUnloaded);
}

TEST_F(ModelRegistryTest, TtlSparesModelsInUse) {
  const auto models = registry(0s);
  auto lease = models->acquire("a");
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(models->status("a").state, ModelState::kLoaded);
  EXPECT_EQ(models->status("a").in_use, 1);
  lease.reset();
  EXPECT_TRUE(eventually([&] { return models->status("a").state == ModelState::kUnloaded; }));
  EXPECT_TRUE(models->status("a").summary.has_value());  // kept for /status
  (void)models->acquire("a");                            // loads again
  EXPECT_EQ(loads_, 2);
}

TEST_F(ModelRegistryTest, TtlUnloadsIdleModels) {
  const auto models = registry(200ms);
  (void)models->load("a");
  (void)models->load("b");
  EXPECT_TRUE(eventually([&] {
    return models->status("a").state == ModelState::kUnloaded &&
           models->status("b").state == ModelState::kUnloaded;
  }));
}

TEST_F(ModelRegistryTest, UnloadLeavesRunningRequestsTheirModel) {
  const auto models = registry(-1s);
  const auto lease = models->acquire("a");
  EXPECT_EQ(models->unload("a").state, ModelState::kUnloaded);
  EXPECT_EQ(lease->info().name, "tiny.en");  // still usable
  EXPECT_FALSE(models->resident("a").has_value());
  EXPECT_EQ(models->load("a").state, ModelState::kLoaded);
}

TEST_F(ModelRegistryTest, ConcurrentAcquireAndUnload) {
  const auto models = registry(0s);
  std::atomic<bool> stop{false};
  std::atomic<int> used{0};
  std::vector<std::jthread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      while (!stop) {
        const auto lease = models->acquire(i % 2 == 0 ? "a" : "b");
        if (!lease->info().name.empty()) ++used;
      }
    });
  }
  threads.emplace_back([&] {
    while (!stop) {
      (void)models->unload("a");
      (void)models->list();
      std::this_thread::yield();
    }
  });
  std::this_thread::sleep_for(300ms);
  stop = true;
  threads.clear();
  EXPECT_GT(used, 0);
  EXPECT_EQ(models->status("a").in_use, 0);
  EXPECT_EQ(models->status("b").in_use, 0);
}

TEST_F(ModelRegistryTest, AFailedLoadNamesTheModelAndIsRetried) {
  failing_ = "b";
  const auto models = registry(-1s);
  try {
    (void)models->acquire("b");
    FAIL() << "a failing model loaded";
  } catch (const ApiError& error) {
    EXPECT_EQ(error.status(), 500);
    EXPECT_NE(std::string(error.what()).find("'b'"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("corrupt"), std::string::npos) << error.what();
  }
  EXPECT_EQ(models->status("b").state, ModelState::kUnloaded);
  EXPECT_EQ(models->status("b").load_error, "corrupt model.bin");
  EXPECT_EQ(models->acquire("a")->info().name, "tiny.en");  // the others still serve
  failing_.clear();
  EXPECT_EQ(models->load("b").state, ModelState::kLoaded);
  EXPECT_TRUE(models->status("b").load_error.empty());
}

}  // namespace
}  // namespace amanuensis::service
