// The set transformer with inducing points (Lee et al., ICML 2019), PAVI-E's attention-based set
// encoder (as in ADAVI/PAVI): the observations are embedded, pass through induced set attention
// blocks, ISAB(X) = MAB(X, MAB(I, X)) with m learned inducing points I (cost linear in the set's
// size), and are pooled by attention onto one learned seed, PMA(Z) = MAB(s, Z). Each
// multihead attention block is MAB(Q, K) = H + relu(W H), H = Q + attention(Q, K, K). Like
// the deep set, the output adds a linear skip of the observations' mean and starts there (the
// attention path's output layer starts at zero). Input [..., N, F] -> [..., D_E].
#pragma once
#include "amortize/pavi/set_encoder.hpp"

#include <vector>

namespace amortize::pavi {

// Multihead attention block: queries [..., M, H], keys [..., N, H] -> [..., M, H] (batch dims
// broadcast, so learned queries [M, H] serve every set).
class AttentionBlockImpl : public torch::nn::Module {
 public:
  AttentionBlockImpl(int64_t hidden, int64_t heads, at::Generator generator);
  Tensor forward(const Tensor& queries, const Tensor& keys);

 private:
  int64_t hidden_, heads_;
  torch::nn::Linear q_{nullptr}, k_{nullptr}, v_{nullptr}, o_{nullptr};
};
TORCH_MODULE(AttentionBlock);

class SetTransformerEncoderImpl : public SetEncoder {
 public:
  SetTransformerEncoderImpl(int64_t features, int64_t encoding_dim, int64_t hidden, int64_t inducing_points,
                            int64_t heads, at::Generator generator, int64_t blocks = 1);
  Tensor forward(const Tensor& set) override;

 private:
  int64_t features_;
  torch::nn::Linear embed_{nullptr}, out_{nullptr}, skip_{nullptr};
  std::vector<Tensor> inducing_;
  std::vector<AttentionBlock> induce_, attend_;
  Tensor seed_;
  AttentionBlock pool_{nullptr};
};
TORCH_MODULE(SetTransformerEncoder);

}  // namespace amortize::pavi
