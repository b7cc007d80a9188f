// The set transformer with inducing points: output shapes for any batch shape, invariance to
// the order of a set's observations (with every parameter perturbed, so that the zero-started
// attention path counts), sensitivity to the set's content, and its selection by name.
#include "amortize/pavi/set_transformer.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include "test_tensors.hpp"

using namespace amortize;
using namespace amortize::pavi;
using namespace pavi_tests;

TEST(SetTransformer, ShapesForAnyBatchShape) {
  SetTransformerEncoder enc(3, 5, 8, 4, 2, gen(1));
  enc->to(at::kDouble);
  auto g = gen(2);
  EXPECT_EQ(enc->forward(at::randn({7, 3}, g, f64())).sizes(), (std::vector<int64_t>{5}));
  EXPECT_EQ(enc->forward(at::randn({4, 7, 3}, g, f64())).sizes(), (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(enc->forward(at::randn({2, 4, 9, 3}, g, f64())).sizes(), (std::vector<int64_t>{2, 4, 5}));
  EXPECT_THROW(enc->forward(at::zeros({4, 7, 2}, f64())), std::invalid_argument);
  EXPECT_THROW(SetTransformerEncoder(3, 5, 8, 4, 3, gen(1)), std::invalid_argument);  // 3 heads do not divide 8
}

TEST(SetTransformer, IsInvariantToTheOrderOfObservationsAndReadsTheSet) {
  SetTransformerEncoder enc(2, 5, 8, 3, 2, gen(3), /*blocks=*/2);
  enc->to(at::kDouble);
  perturb(*enc, 4);
  auto g = gen(5);
  Tensor x = at::randn({3, 11, 2}, g, f64());
  Tensor perm = at::randperm(11, g, at::TensorOptions().dtype(at::kLong));
  Tensor e = enc->forward(x);
  EXPECT_TRUE(at::allclose(e, enc->forward(x.index_select(1, perm)), 1e-12, 1e-12));
  // Not constant: different sets, and sets with the same mean, get different encodings.
  EXPECT_GT((e[0] - e[1]).abs().max().item<double>(), 1e-3);
  Tensor spread = x[0].mean(0) + 3 * (x[0] - x[0].mean(0));
  EXPECT_GT((enc->forward(spread) - e[0]).abs().max().item<double>(), 1e-3);
}

TEST(SetTransformer, StartsAsTheLinearMapOfTheMeanLikeTheDeepSet) {
  SetTransformerEncoder enc(2, 4, 8, 3, 2, gen(6));
  enc->to(at::kDouble);
  auto g = gen(7);
  Tensor x = at::randn({5, 6, 2}, g, f64());
  Tensor wider = x.mean(1, true) + 2 * (x - x.mean(1, true));
  EXPECT_TRUE(at::allclose(enc->forward(x), enc->forward(wider), 1e-12, 1e-12));
}

TEST(SetEncoderKind, ParsedByNameAndMadeByKind) {
  EXPECT_EQ(parse_set_encoder("deepset"), SetEncoderKind::DeepSet);
  EXPECT_EQ(parse_set_encoder("set-transformer"), SetEncoderKind::SetTransformer);
  EXPECT_EQ(to_string(SetEncoderKind::SetTransformer), "set-transformer");
  EXPECT_THROW(parse_set_encoder("transformer"), std::invalid_argument);
  SetEncoderOptions o;
  o.kind = SetEncoderKind::SetTransformer;
  o.hidden = 8;
  auto st = make_set_encoder(2, 3, o, gen(8));
  EXPECT_NE(dynamic_cast<SetTransformerEncoderImpl*>(st.get()), nullptr);
  o.kind = SetEncoderKind::DeepSet;
  EXPECT_NE(dynamic_cast<DeepSetEncoderImpl*>(make_set_encoder(2, 3, o, gen(8)).get()), nullptr);
  EXPECT_EQ(st->forward(at::zeros({4, 5, 2})).sizes(), (std::vector<int64_t>{4, 3}));
}
