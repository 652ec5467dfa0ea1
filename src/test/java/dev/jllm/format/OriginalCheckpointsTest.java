package dev.jllm.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jllm.SharedData;
import dev.jllm.format.pytorch.Pickled;
import dev.jllm.format.pytorch.TorchArchive;
import dev.jllm.format.pytorch.TorchTensor;
import dev.jllm.model.LlamaConfig;
import dev.jllm.tensor.GgmlType;
import dev.jllm.tensor.Tensor;
import dev.jllm.tokenizer.Tokenizer;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The original-format files of ../shared/models/torch (written by real torch.save, SentencePiece and lumi's
 * convert.py) against stories260K.bin, which holds the same weights: every tensor equal bit for bit, the same config,
 * the tokenizer.model equal to llama.cpp's tokenization, and the storages read where they lie.
 */
class OriginalCheckpointsTest {

    static Path torch(String name) {
        return SharedData.model("torch").resolve(name);
    }

    @ParameterizedTest
    @ValueSource(strings = {"stories260K.pt", "stories260K-meta", "stories260K.lmw"})
    void everyTensorEqualsTheLlama2cCheckpointsBitForBit(String name) {
        try (ModelFile bin = ModelLoaders.open(SharedData.model("stories260K.bin"));
                ModelFile original = ModelLoaders.open(torch(name))) {
            LlamaConfig a = bin.config();
            LlamaConfig b = original.config();
            assertEquals(a.withContextLength(0), b.withContextLength(0), "config");
            for (Map.Entry<String, Tensor> e : bin.tensors().entrySet()) {
                Tensor t = original.tensor(e.getKey());
                assertEquals(GgmlType.F32, t.type(), e.getKey());
                assertArrayEquals(e.getValue().shape(), t.shape(), e.getKey());
                assertArrayEquals(e.getValue().toFloatArray(), t.toFloatArray(), e.getKey());
            }
            Tensor output = original.tensorOrNull("output.weight");
            if (name.endsWith(".pt")) {
                assertNull(output, "the .pt's output shares the embedding's storage: recognised as tied");
            } else {
                assertArrayEquals(bin.tensor("token_embd.weight").toFloatArray(), output.toFloatArray());
            }
            assertEquals(bin.tensors().size() + (output != null ? 1 : 0), original.tensors().size());
        }
    }

    @Test
    void theTrainingCheckpointIsReadInPlaceAndItsSharedStoragesAreSeenAsShared() {
        try (Arena arena = Arena.ofConfined()) {
            TorchArchive archive = TorchArchive.open(torch("stories260K.pt"), arena);
            Pickled.Dict root = (Pickled.Dict) archive.root();
            assertEquals(java.util.List.of("model", "optimizer", "model_args", "iter_num", "best_val_loss", "config"),
                    java.util.List.copyOf(root.entries().keySet()));
            Pickled.Dict model = (Pickled.Dict) root.get("model");
            TorchTensor embedding = (TorchTensor) model.get("_orig_mod.tok_embeddings.weight");
            TorchTensor output = (TorchTensor) model.get("_orig_mod.output.weight");
            assertSame(embedding.storage(), output.storage(), "one storage object for the tied output");
            assertTrue(output.sameViewAs(embedding));
            // llama2.c's checkpoint keeps each kind of layer weight in one storage, a view per layer
            for (int l = 0; l < 5; l++) {
                TorchTensor wq = (TorchTensor) model.get("_orig_mod.layers." + l + ".attention.wq.weight");
                assertSame(((TorchTensor) model.get("_orig_mod.layers.0.attention.wq.weight")).storage(), wq.storage());
                assertEquals(l * 64L * 64, wq.offset());
                assertTrue(wq.isContiguous());
            }
            assertEquals(12, archive.storages().size(), "11 in the model, one for best_val_loss");
            for (var storage : archive.storages().values()) {
                assertTrue(storage.data().isMapped(), "storage " + storage.key() + " is read in place");
            }
            assertEquals(0.0, ((Pickled.Dict) root.get("model_args")).get("dropout"));
        }
        try (ModelFile pt = ModelLoaders.open(torch("stories260K.pt"))) {
            for (Tensor t : pt.tensors().values()) {
                assertTrue(t.data().isMapped(), t.name() + " is a view of the mapped file, not a copy");
            }
            assertEquals(true, pt.metadata().get("pytorch.tied_output"));
            assertTrue(pt.format().contains("output tied to the embedding"), pt.format());
        }
    }

    @Test
    void metaShardsAreJoinedOnceAndReplicatedNormsAreReadInPlace() {
        try (ModelFile meta = ModelLoaders.open(torch("stories260K-meta"))) {
            assertEquals(2, meta.metadata().get("meta.shards"));
            for (Tensor t : meta.tensors().values()) {
                boolean norm = t.name().endsWith("norm.weight");
                assertEquals(norm, t.data().isMapped(), t.name() + (norm ? " is read in place" : " is joined"));
            }
            assertTrue(meta.format().contains("2 model-parallel shards joined"), meta.format());
        }
        // the params.json, or one shard, stand for the directory
        try (ModelFile viaParams = ModelLoaders.open(torch("stories260K-meta/params.json"));
                ModelFile viaShard = ModelLoaders.open(torch("stories260K-meta/consolidated.01.pth"))) {
            assertEquals(2, viaParams.metadata().get("meta.shards"));
            assertEquals(2, viaShard.metadata().get("meta.shards"));
        }
    }

    @Test
    void lumiTransposedMatricesAreCopiedAndTheRestReadInPlace() {
        try (ModelFile lmw = ModelLoaders.open(torch("stories260K.lmw"))) {
            for (Tensor t : lmw.tensors().values()) {
                boolean inPlace = t.name().endsWith("norm.weight") || t.name().equals("token_embd.weight");
                assertEquals(inPlace, t.data().isMapped(), t.name());
            }
            assertEquals(2, lmw.metadata().get("lumi.model_version"));
            assertEquals(7986, lmw.metadata().get("lumi.tokenizer_bytes"));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"stories260K-meta", "stories260K.lmw"})
    void theirTokenizerModelEncodesThePerplexityTextAsLlamaCpp(String name) throws IOException {
        String text = Files.readString(SharedData.golden("ppl_text.txt"));
        String ids = Files.readString(SharedData.golden("tokenize_ppl_text_tok512.txt")).strip();
        int[] expected = Arrays.stream(ids.substring(1, ids.length() - 1).split(",")).map(String::strip)
                .mapToInt(Integer::parseInt).toArray();
        try (ModelFile f = ModelLoaders.open(torch(name))) {
            Tokenizer tokenizer = Tokenizer.from(f.tokenizer());
            assertArrayEquals(expected, tokenizer.encode(text, true, true));
            assertEquals(text, tokenizer.decode(expected));
        }
    }

    @Test
    void aTrainingCheckpointWithoutTokenizerBesideItHasNone() {
        try (ModelFile pt = ModelLoaders.open(torch("stories260K.pt"))) {
            assertNull(pt.tokenizer());
            assertFalse(pt.format().isEmpty());
        }
    }
}
