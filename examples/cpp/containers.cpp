// Containers: counts the words of the input with the C++ standard library and
// outputs a summary, e.g. input "a b a c" gives "words=4 unique=3 top=a:2".
#include <faasm/faasm.h>

#include <map>
#include <string>
#include <vector>

static std::vector<std::string> splitWords(const std::string& text)
{
    std::vector<std::string> words;
    std::string word;
    for (char c : text) {
        if (c == ' ' || c == '\n' || c == '\t') {
            if (!word.empty()) {
                words.push_back(word);
                word.clear();
            }
        } else {
            word += c;
        }
    }
    if (!word.empty()) {
        words.push_back(word);
    }
    return words;
}

int main()
{
    std::vector<std::string> words = splitWords(faasm::getStringInput(""));

    std::map<std::string, int> counts;
    for (const auto& word : words) {
        counts[word]++;
    }

    // The most frequent word; ties go to the alphabetically first.
    std::string top;
    int topCount = 0;
    for (const auto& [word, count] : counts) {
        if (count > topCount) {
            top = word;
            topCount = count;
        }
    }

    std::string summary = "words=" + std::to_string(words.size()) +
                          " unique=" + std::to_string(counts.size());
    if (topCount > 0) {
        summary += " top=" + top + ":" + std::to_string(topCount);
    }
    faasm::setStringOutput(summary.c_str());
    return 0;
}
