package dev.jllm.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * The chat page at / in a real headless Chromium (Debian's chromium and chromium-driver, driven by Selenium): a message
 * gets an answer that streams in, the conversation is kept, and Stop ends a running answer and frees the server's
 * slot. Screenshots go to target/.
 */
class WebPageTest {

    private static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    private static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
    @TempDir
    static Path profile;
    private static ChromeDriver driver;

    @BeforeAll
    static void startBrowser() {
        if (!Files.isExecutable(CHROMIUM) || !Files.isExecutable(CHROMEDRIVER)) {
            throw new AssertionError("the page test needs Debian's chromium and chromium-driver (" + CHROMIUM + ", "
                    + CHROMEDRIVER + "): apt-get install chromium chromium-driver (.ci/run does)");
        }
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM.toFile());
        options.addArguments("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1100,900", "--user-data-dir=" + profile.toAbsolutePath());
        ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(CHROMEDRIVER.toFile())
                .usingAnyFreePort().build();
        driver = new ChromeDriver(service, options);
    }

    @AfterAll
    static void stopBrowser() {
        if (driver != null) {
            driver.quit();
        }
    }

    private static WebDriverWait waiting(int seconds) {
        return new WebDriverWait(driver, Duration.ofSeconds(seconds), Duration.ofMillis(10));
    }

    private static void screenshot(String name) throws Exception {
        File shot = ((TakesScreenshot) driver).getScreenshotAs(OutputType.FILE);
        Path target = Path.of("target", name);
        Files.createDirectories(target.getParent());
        Files.copy(shot.toPath(), target, StandardCopyOption.REPLACE_EXISTING);
    }

    private static void setNumber(String id, int value) {
        WebElement input = driver.findElement(By.id(id));
        input.clear();
        input.sendKeys(Integer.toString(value));
    }

    private static void send(String text) {
        WebElement input = driver.findElement(By.id("input"));
        input.sendKeys(text);
        driver.findElement(By.id("send")).click();
    }

    @Test
    void aMessageGetsAStreamedAnswerAndStopEndsARunningOne() throws Exception {
        String url = TestServers.slow().url(); // 20 ms per token: the answer visibly streams
        driver.get(url + "/");
        waiting(10).until(d -> d.findElement(By.id("model")).getText().equals(TestServers.MODEL));
        setNumber("temperature", 0);
        setNumber("max-tokens", 40);

        send("Tell me a story.");
        waiting(10).until(d -> d.findElements(By.cssSelector(".message.user")).size() == 1);
        WebElement answer = driver.findElement(By.cssSelector(".message.assistant"));
        Set<String> seen = new LinkedHashSet<>();
        long end = System.nanoTime() + 30_000_000_000L;
        while (!answer.getAttribute("class").contains("finished") && System.nanoTime() < end) {
            seen.add(answer.findElement(By.className("text")).getText());
        }
        String text = answer.findElement(By.className("text")).getText();
        assertTrue(answer.getAttribute("class").contains("finished"), "the answer finished");
        assertTrue(seen.size() > 5, "the answer grew piece by piece: " + seen.size() + " states");
        String expected = TestServers.generate("--chat-template", "llama2", "-p", "Tell me a story.", "--temp", "0",
                "-n", "40");
        assertEquals(expected.strip(), text.strip(), "the page shows the model's greedy answer");
        assertTrue(answer.findElement(By.className("meta")).getText().contains("40 tokens"),
                answer.findElement(By.className("meta")).getText());
        screenshot("webpage-answer.png");

        // A long answer, stopped while it streams.
        setNumber("max-tokens", 200);
        send("And another one.");
        waiting(10).until(d -> d.findElements(By.cssSelector(".message.assistant")).size() == 2);
        WebElement second = driver.findElements(By.cssSelector(".message.assistant")).get(1);
        waiting(10).until(d -> second.findElement(By.className("text")).getText().length() > 20);
        assertTrue(driver.findElement(By.id("send")).getAttribute("disabled") != null, "Send waits while answering");
        assertEquals(1.0, TestServers.metric(url, "jllm_busy_slots"));
        driver.findElement(By.id("stop")).click();
        waiting(5).until(d -> second.getAttribute("class").contains("stopped"));
        String stoppedAt = second.findElement(By.className("text")).getText();
        Thread.sleep(300);
        assertEquals(stoppedAt, second.findElement(By.className("text")).getText(), "nothing arrives after Stop");
        assertTrue(second.findElement(By.className("meta")).getText().startsWith("stopped after"));
        assertEquals(null, driver.findElement(By.id("send")).getAttribute("disabled"), "Send is enabled again");
        assertEquals(0.0, TestServers.awaitMetric(url, "jllm_busy_slots", 0, 3000), "the server freed the slot");
        assertFalse(stoppedAt.isEmpty());
        assertEquals(2, driver.findElements(By.cssSelector(".message.user")).size(), "the conversation is kept");
        screenshot("webpage-stopped.png");
    }

    /** The page loads nothing from elsewhere: every script, style and image is the server's own. */
    @Test
    void thePageUsesOnlyItsOwnFiles() {
        String url = TestServers.slow().url();
        driver.get(url + "/");
        @SuppressWarnings("unchecked")
        List<String> resources = (List<String>) driver.executeScript(
                "return performance.getEntriesByType('resource').map(e => e.name);");
        assertFalse(resources.isEmpty());
        for (String r : resources) {
            assertTrue(r.startsWith(url + "/"), "loaded from the server itself: " + r);
        }
        String html = TestServers.get(url, "/").raw().body();
        assertFalse(html.contains("http://") || html.contains("https://"), "no external address in the page");
    }
}
