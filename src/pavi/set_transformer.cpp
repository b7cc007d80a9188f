#include "amortize/pavi/set_transformer.hpp"

#include "amortize/pavi/conditional_flow.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace amortize::pavi {

AttentionBlockImpl::AttentionBlockImpl(int64_t hidden, int64_t heads, at::Generator generator)
    : hidden_(hidden), heads_(heads) {
  if (hidden < 1 || heads < 1 || hidden % heads != 0) {
    throw std::invalid_argument("AttentionBlock: heads (" + std::to_string(heads) + ") must divide hidden (" +
                                std::to_string(hidden) + ")");
  }
  q_ = register_module("q", torch::nn::Linear(hidden, hidden));
  k_ = register_module("k", torch::nn::Linear(hidden, hidden));
  v_ = register_module("v", torch::nn::Linear(hidden, hidden));
  o_ = register_module("o", torch::nn::Linear(hidden, hidden));
  for (auto* l : {&q_, &k_, &v_, &o_}) init_linear(*l, generator);
}

Tensor AttentionBlockImpl::forward(const Tensor& queries, const Tensor& keys) {
  const int64_t head_dim = hidden_ / heads_;
  // [..., L, H] -> [..., heads, L, head_dim]
  auto split = [&](const Tensor& t) {
    auto shape = t.sizes().vec();
    shape.back() = heads_;
    shape.push_back(head_dim);
    return t.reshape(shape).transpose(-3, -2);
  };
  Tensor q = split(q_->forward(queries)), k = split(k_->forward(keys)), v = split(v_->forward(keys));
  Tensor weights = at::softmax(at::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(hidden_)), -1);
  Tensor h = q + at::matmul(weights, v);  // [..., heads, M, head_dim]
  h = h.transpose(-3, -2);
  auto shape = h.sizes().vec();
  shape.pop_back();
  shape.back() = hidden_;
  h = h.reshape(shape);
  return h + at::relu(o_->forward(h));
}

SetTransformerEncoderImpl::SetTransformerEncoderImpl(int64_t features, int64_t encoding_dim, int64_t hidden,
                                                     int64_t inducing_points, int64_t heads, at::Generator generator,
                                                     int64_t blocks)
    : features_(features) {
  if (features < 1 || encoding_dim < 1 || hidden < 1 || inducing_points < 1 || blocks < 1) {
    throw std::invalid_argument(
        "SetTransformerEncoder: features, encoding_dim, hidden, inducing_points and blocks must be positive");
  }
  embed_ = register_module("embed", torch::nn::Linear(features, hidden));
  init_linear(embed_, generator);
  const double bound = 1.0 / std::sqrt(static_cast<double>(hidden));
  auto learned = [&](int64_t rows) {
    return (at::rand({rows, hidden}, generator, at::TensorOptions().dtype(at::kDouble)) * 2 - 1)
        .mul(bound)
        .to(at::kFloat);
  };
  for (int64_t b = 0; b < blocks; ++b) {
    const std::string i = std::to_string(b);
    inducing_.push_back(register_parameter("inducing" + i, learned(inducing_points)));
    induce_.push_back(register_module("induce" + i, AttentionBlock(hidden, heads, generator)));
    attend_.push_back(register_module("attend" + i, AttentionBlock(hidden, heads, generator)));
  }
  seed_ = register_parameter("seed", learned(1));
  pool_ = register_module("pool", AttentionBlock(hidden, heads, generator));
  out_ = register_module("out", torch::nn::Linear(hidden, encoding_dim));
  skip_ = register_module("skip", torch::nn::Linear(features, encoding_dim));
  init_linear(out_, generator, /*zero=*/true);
  init_linear(skip_, generator);
}

Tensor SetTransformerEncoderImpl::forward(const Tensor& set) {
  if (set.dim() < 2 || set.size(-1) != features_) {
    throw std::invalid_argument("SetTransformerEncoder: expected a set of shape [..., N, " + std::to_string(features_) +
                                "], got " + dist::shape_string(set.sizes()));
  }
  Tensor x = embed_->forward(set);
  for (size_t b = 0; b < induce_.size(); ++b) {
    Tensor summary = induce_[b]->forward(inducing_[b], x);  // [..., m, H]
    x = attend_[b]->forward(x, summary);                    // [..., N, H]
  }
  Tensor pooled = pool_->forward(seed_, x).squeeze(-2);  // [..., H]
  return out_->forward(pooled) + skip_->forward(set.mean(-2));
}

}  // namespace amortize::pavi
