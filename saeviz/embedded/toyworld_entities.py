"""Real-world facts for the toy world: cities, famous people, words, names, professions.

Plain data, written by hand so that the build needs nothing from a hub. Countries were chosen
so that each has one clearly dominant language; a city's continent is its country's.
"""

# country -> (continent, language, cities)
COUNTRIES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "France": ("Europe", "French", ("Paris", "Lyon", "Marseille", "Toulouse", "Nice", "Bordeaux")),
    "Germany": ("Europe", "German", ("Berlin", "Munich", "Hamburg", "Cologne", "Frankfurt", "Dresden")),
    "Austria": ("Europe", "German", ("Vienna", "Salzburg", "Graz", "Innsbruck")),
    "Italy": ("Europe", "Italian", ("Rome", "Milan", "Naples", "Venice", "Florence", "Turin")),
    "Spain": ("Europe", "Spanish", ("Madrid", "Barcelona", "Seville", "Valencia", "Bilbao", "Malaga")),
    "Portugal": ("Europe", "Portuguese", ("Lisbon", "Porto", "Coimbra", "Braga")),
    "the Netherlands": ("Europe", "Dutch", ("Amsterdam", "Rotterdam", "Utrecht", "Eindhoven")),
    "Poland": ("Europe", "Polish", ("Warsaw", "Krakow", "Gdansk", "Wroclaw", "Poznan")),
    "Sweden": ("Europe", "Swedish", ("Stockholm", "Gothenburg", "Malmo", "Uppsala")),
    "Norway": ("Europe", "Norwegian", ("Oslo", "Bergen", "Trondheim", "Stavanger")),
    "Denmark": ("Europe", "Danish", ("Copenhagen", "Aarhus", "Odense")),
    "Finland": ("Europe", "Finnish", ("Helsinki", "Tampere", "Turku")),
    "Greece": ("Europe", "Greek", ("Athens", "Thessaloniki", "Patras", "Heraklion")),
    "Russia": ("Europe", "Russian", ("Moscow", "Saint Petersburg", "Kazan", "Novosibirsk")),
    "the Czech Republic": ("Europe", "Czech", ("Prague", "Brno", "Ostrava")),
    "Hungary": ("Europe", "Hungarian", ("Budapest", "Debrecen", "Szeged")),
    "the United Kingdom": ("Europe", "English", ("London", "Manchester", "Liverpool", "Birmingham", "Edinburgh", "Glasgow")),
    "Ireland": ("Europe", "English", ("Dublin", "Cork", "Galway")),
    "Japan": ("Asia", "Japanese", ("Tokyo", "Osaka", "Kyoto", "Nagoya", "Sapporo", "Yokohama")),
    "China": ("Asia", "Chinese", ("Beijing", "Shanghai", "Guangzhou", "Shenzhen", "Chengdu", "Wuhan")),
    "South Korea": ("Asia", "Korean", ("Seoul", "Busan", "Incheon", "Daegu")),
    "Thailand": ("Asia", "Thai", ("Bangkok", "Chiang Mai", "Phuket")),
    "Vietnam": ("Asia", "Vietnamese", ("Hanoi", "Hue", "Da Nang", "Haiphong")),
    "Indonesia": ("Asia", "Indonesian", ("Jakarta", "Surabaya", "Bandung")),
    "India": ("Asia", "Hindi", ("Delhi", "Jaipur", "Lucknow", "Varanasi")),
    "Iran": ("Asia", "Persian", ("Tehran", "Isfahan", "Shiraz", "Tabriz")),
    "Egypt": ("Africa", "Arabic", ("Cairo", "Alexandria", "Luxor", "Aswan")),
    "Morocco": ("Africa", "Arabic", ("Casablanca", "Marrakesh", "Fez", "Rabat")),
    "Kenya": ("Africa", "Swahili", ("Nairobi", "Mombasa", "Kisumu")),
    "Tanzania": ("Africa", "Swahili", ("Dar es Salaam", "Dodoma", "Arusha")),
    "Ethiopia": ("Africa", "Amharic", ("Addis Ababa", "Gondar", "Mekelle")),
    "Nigeria": ("Africa", "English", ("Lagos", "Abuja", "Kano", "Ibadan")),
    "Brazil": ("South America", "Portuguese", ("Sao Paulo", "Rio de Janeiro", "Brasilia", "Salvador", "Recife")),
    "Argentina": ("South America", "Spanish", ("Buenos Aires", "Cordoba", "Rosario", "Mendoza")),
    "Peru": ("South America", "Spanish", ("Lima", "Cusco", "Arequipa")),
    "Colombia": ("South America", "Spanish", ("Bogota", "Medellin", "Cali", "Cartagena")),
    "Chile": ("South America", "Spanish", ("Santiago", "Valparaiso", "Concepcion")),
    "Mexico": ("North America", "Spanish", ("Mexico City", "Guadalajara", "Monterrey", "Cancun", "Puebla")),
    "the United States": ("North America", "English", ("New York", "Chicago", "Los Angeles", "Houston", "Boston", "Seattle", "Denver", "Miami")),
    "Canada": ("North America", "English", ("Toronto", "Vancouver", "Calgary", "Edmonton")),
    "Australia": ("Oceania", "English", ("Sydney", "Melbourne", "Brisbane", "Perth", "Adelaide")),
    "New Zealand": ("Oceania", "English", ("Auckland", "Wellington", "Christchurch")),
}

# name, field, birth country (a key of COUNTRIES), gender
PEOPLE: tuple[tuple[str, str, str, str], ...] = (
    ("Albert Einstein", "physics", "Germany", "man"), ("Isaac Newton", "physics", "the United Kingdom", "man"),
    ("Galileo Galilei", "physics", "Italy", "man"), ("Richard Feynman", "physics", "the United States", "man"),
    ("Max Planck", "physics", "Germany", "man"), ("Enrico Fermi", "physics", "Italy", "man"),
    ("Lise Meitner", "physics", "Austria", "woman"), ("Niels Bohr", "physics", "Denmark", "man"),
    ("Erwin Schrodinger", "physics", "Austria", "man"), ("Stephen Hawking", "physics", "the United Kingdom", "man"),
    ("Chien-Shiung Wu", "physics", "China", "woman"), ("Werner Heisenberg", "physics", "Germany", "man"),
    ("Marie Curie", "chemistry", "Poland", "woman"), ("Dmitri Mendeleev", "chemistry", "Russia", "man"),
    ("Rosalind Franklin", "chemistry", "the United Kingdom", "woman"), ("Linus Pauling", "chemistry", "the United States", "man"),
    ("Antoine Lavoisier", "chemistry", "France", "man"), ("Dorothy Hodgkin", "chemistry", "Egypt", "woman"),
    ("Alfred Nobel", "chemistry", "Sweden", "man"), ("Louis Pasteur", "chemistry", "France", "man"),
    ("Carl Friedrich Gauss", "mathematics", "Germany", "man"), ("Ada Lovelace", "mathematics", "the United Kingdom", "woman"),
    ("Emmy Noether", "mathematics", "Germany", "woman"), ("Srinivasa Ramanujan", "mathematics", "India", "man"),
    ("Alan Turing", "mathematics", "the United Kingdom", "man"), ("Pierre de Fermat", "mathematics", "France", "man"),
    ("Sofia Kovalevskaya", "mathematics", "Russia", "woman"), ("Hypatia", "mathematics", "Egypt", "woman"),
    ("Kurt Godel", "mathematics", "the Czech Republic", "man"), ("Maryam Mirzakhani", "mathematics", "Iran", "woman"),
    ("John von Neumann", "mathematics", "Hungary", "man"), ("Terence Tao", "mathematics", "Australia", "man"),
    ("Wolfgang Amadeus Mozart", "music", "Austria", "man"), ("Ludwig van Beethoven", "music", "Germany", "man"),
    ("Johann Sebastian Bach", "music", "Germany", "man"), ("Frederic Chopin", "music", "Poland", "man"),
    ("Giuseppe Verdi", "music", "Italy", "man"), ("Antonio Vivaldi", "music", "Italy", "man"),
    ("Pyotr Tchaikovsky", "music", "Russia", "man"), ("Edith Piaf", "music", "France", "woman"),
    ("Clara Schumann", "music", "Germany", "woman"), ("Louis Armstrong", "music", "the United States", "man"),
    ("Freddie Mercury", "music", "Tanzania", "man"), ("Ella Fitzgerald", "music", "the United States", "woman"),
    ("Elvis Presley", "music", "the United States", "man"), ("Fela Kuti", "music", "Nigeria", "man"),
    ("Jean Sibelius", "music", "Finland", "man"), ("Edvard Grieg", "music", "Norway", "man"),
    ("Shakira", "music", "Colombia", "woman"), ("Heitor Villa-Lobos", "music", "Brazil", "man"),
    ("Pablo Picasso", "painting", "Spain", "man"), ("Vincent van Gogh", "painting", "the Netherlands", "man"),
    ("Leonardo da Vinci", "painting", "Italy", "man"), ("Claude Monet", "painting", "France", "man"),
    ("Frida Kahlo", "painting", "Mexico", "woman"), ("Rembrandt", "painting", "the Netherlands", "man"),
    ("Salvador Dali", "painting", "Spain", "man"), ("Katsushika Hokusai", "painting", "Japan", "man"),
    ("Edvard Munch", "painting", "Norway", "man"), ("Georgia O'Keeffe", "painting", "the United States", "woman"),
    ("Gustav Klimt", "painting", "Austria", "man"), ("Artemisia Gentileschi", "painting", "Italy", "woman"),
    ("Diego Rivera", "painting", "Mexico", "man"), ("Wassily Kandinsky", "painting", "Russia", "man"),
    ("William Shakespeare", "literature", "the United Kingdom", "man"), ("Jane Austen", "literature", "the United Kingdom", "woman"),
    ("Leo Tolstoy", "literature", "Russia", "man"), ("Fyodor Dostoevsky", "literature", "Russia", "man"),
    ("Victor Hugo", "literature", "France", "man"), ("Miguel de Cervantes", "literature", "Spain", "man"),
    ("Dante Alighieri", "literature", "Italy", "man"), ("Johann Wolfgang von Goethe", "literature", "Germany", "man"),
    ("Mark Twain", "literature", "the United States", "man"), ("Virginia Woolf", "literature", "the United Kingdom", "woman"),
    ("Gabriel Garcia Marquez", "literature", "Colombia", "man"), ("Chinua Achebe", "literature", "Nigeria", "man"),
    ("Haruki Murakami", "literature", "Japan", "man"), ("Jorge Luis Borges", "literature", "Argentina", "man"),
    ("Pablo Neruda", "literature", "Chile", "man"), ("Toni Morrison", "literature", "the United States", "woman"),
    ("Agatha Christie", "literature", "the United Kingdom", "woman"), ("Astrid Lindgren", "literature", "Sweden", "woman"),
    ("Selma Lagerlof", "literature", "Sweden", "woman"), ("Wislawa Szymborska", "literature", "Poland", "woman"),
    ("Franz Kafka", "literature", "the Czech Republic", "man"), ("Hans Christian Andersen", "literature", "Denmark", "man"),
    ("Isabel Allende", "literature", "Peru", "woman"), ("Murasaki Shikibu", "literature", "Japan", "woman"),
    ("Rabindranath Tagore", "literature", "India", "man"), ("James Joyce", "literature", "Ireland", "man"),
    ("Oscar Wilde", "literature", "Ireland", "man"), ("Naguib Mahfouz", "literature", "Egypt", "man"),
    ("Paulo Coelho", "literature", "Brazil", "man"), ("Fernando Pessoa", "literature", "Portugal", "man"),
    ("Homer", "literature", "Greece", "man"), ("Nikos Kazantzakis", "literature", "Greece", "man"),
    ("Napoleon Bonaparte", "politics", "France", "man"), ("Abraham Lincoln", "politics", "the United States", "man"),
    ("Winston Churchill", "politics", "the United Kingdom", "man"), ("Mahatma Gandhi", "politics", "India", "man"),
    ("Queen Victoria", "politics", "the United Kingdom", "woman"), ("Cleopatra", "politics", "Egypt", "woman"),
    ("Indira Gandhi", "politics", "India", "woman"), ("Angela Merkel", "politics", "Germany", "woman"),
    ("Margaret Thatcher", "politics", "the United Kingdom", "woman"), ("Catherine the Great", "politics", "Poland", "woman"),
    ("Benito Juarez", "politics", "Mexico", "man"), ("Julius Caesar", "politics", "Italy", "man"),
    ("George Washington", "politics", "the United States", "man"), ("Otto von Bismarck", "politics", "Germany", "man"),
    ("Jomo Kenyatta", "politics", "Kenya", "man"), ("Eva Peron", "politics", "Argentina", "woman"),
    ("Jacinda Ardern", "politics", "New Zealand", "woman"), ("Haile Selassie", "politics", "Ethiopia", "man"),
    ("Plato", "philosophy", "Greece", "man"), ("Aristotle", "philosophy", "Greece", "man"),
    ("Socrates", "philosophy", "Greece", "man"), ("Confucius", "philosophy", "China", "man"),
    ("Immanuel Kant", "philosophy", "Russia", "man"), ("Rene Descartes", "philosophy", "France", "man"),
    ("Simone de Beauvoir", "philosophy", "France", "woman"), ("Hannah Arendt", "philosophy", "Germany", "woman"),
    ("Friedrich Nietzsche", "philosophy", "Germany", "man"), ("Soren Kierkegaard", "philosophy", "Denmark", "man"),
    ("Laozi", "philosophy", "China", "man"), ("Mary Wollstonecraft", "philosophy", "the United Kingdom", "woman"),
    ("Baruch Spinoza", "philosophy", "the Netherlands", "man"), ("Pele", "sports", "Brazil", "man"),
    ("Diego Maradona", "sports", "Argentina", "man"), ("Lionel Messi", "sports", "Argentina", "man"),
    ("Serena Williams", "sports", "the United States", "woman"), ("Rafael Nadal", "sports", "Spain", "man"),
    ("Cristiano Ronaldo", "sports", "Portugal", "man"), ("Michael Jordan", "sports", "the United States", "man"),
    ("Simone Biles", "sports", "the United States", "woman"), ("Steffi Graf", "sports", "Germany", "woman"),
    ("Haile Gebrselassie", "sports", "Ethiopia", "man"), ("Eliud Kipchoge", "sports", "Kenya", "man"),
    ("Martina Navratilova", "sports", "the Czech Republic", "woman"), ("Naomi Osaka", "sports", "Japan", "woman"),
    ("Yao Ming", "sports", "China", "man"), ("Li Na", "sports", "China", "woman"),
    ("Zinedine Zidane", "sports", "France", "man"), ("Cathy Freeman", "sports", "Australia", "woman"),
    ("Charlie Chaplin", "film", "the United Kingdom", "man"), ("Akira Kurosawa", "film", "Japan", "man"),
    ("Federico Fellini", "film", "Italy", "man"), ("Ingmar Bergman", "film", "Sweden", "man"),
    ("Alfred Hitchcock", "film", "the United Kingdom", "man"), ("Marilyn Monroe", "film", "the United States", "woman"),
    ("Sophia Loren", "film", "Italy", "woman"), ("Greta Garbo", "film", "Sweden", "woman"),
    ("Satyajit Ray", "film", "India", "man"), ("Pedro Almodovar", "film", "Spain", "man"),
    ("Brigitte Bardot", "film", "France", "woman"), ("Marlene Dietrich", "film", "Germany", "woman"),
    ("Meryl Streep", "film", "the United States", "woman"), ("Cate Blanchett", "film", "Australia", "woman"),
)

# Common English words for the spelling / first-letter text (lower case, 3-9 letters).
WORDS: tuple[str, ...] = tuple("""
apple river house table water garden window bread chair mountain letter music friend paper
summer winter doctor animal flower forest island market orange pencil rabbit silver tiger
yellow basket bottle butter candle castle circle cotton dinner engine family finger garden
hammer jacket kitchen ladder lemon monkey needle number ocean pocket potato rocket saddle
shadow spider ticket turtle valley wagon wizard zebra anchor bridge camera dragon eagle
feather guitar harbor insect jungle kettle lantern meadow nickel oyster parrot quilt
ribbon sailor temple umbrella violin walnut yogurt banana cherry donkey falcon goose
honey iron jelly kitten lizard magnet noodle onion pepper queen radio salad tomato uncle
velvet whale yarn acorn blanket cabin desert elbow fabric glove helmet igloo jewel kayak
lamp mirror nest olive piano quiver robin sugar tunnel unicorn vase wheat zipper arrow
bucket cloud dust earth fence grape hill ink jar knife leaf moon nut owl pearl rain
salt tree vine wind yard boat cake door egg fish goat hat ice king lion milk nose pig
ring ship star tent van wolf box cup dog fox gift hen jam key log map net oak pan
rose sun toy wall hope voice truth light night heart stone sword field city king
people world money story morning evening bright quiet simple gentle strong happy
""".split())

FEMALE_NAMES = ("Anna", "Maria", "Sofia", "Emma", "Olivia", "Laura", "Clara", "Julia", "Elena", "Sarah",
                "Hannah", "Alice", "Grace", "Lucy", "Nora", "Mia", "Chloe", "Ruth", "Irene", "Helen",
                "Rosa", "Lina", "Amira", "Keiko", "Priya", "Fatima", "Ingrid", "Zara", "Ada", "Eva")
MALE_NAMES = ("James", "John", "David", "Daniel", "Thomas", "Peter", "Paul", "Mark", "Lucas", "Oliver",
              "Henry", "Samuel", "Victor", "Hugo", "Felix", "Omar", "Ravi", "Kenji", "Ivan", "Carlos",
              "Pedro", "Ahmed", "Leo", "Noah", "Adam", "Erik", "Marco", "Tom", "Sam", "Ben")
SURNAMES = ("Smith", "Brown", "Garcia", "Miller", "Lopez", "Wilson", "Moore", "Taylor", "Clark", "Lewis",
            "Walker", "Young", "Hill", "Green", "Baker", "Adams", "Nelson", "Carter", "Rivera", "Cooper",
            "Reed", "Bell", "Murphy", "Rossi", "Novak", "Silva", "Tanaka", "Khan", "Berg", "Weber")

# Professions whose gender correlation the biographies control (spurious-correlation eval).
FEMALE_CODED_PROFESSIONS = ("nurse", "teacher", "librarian", "dancer", "florist", "secretary")
MALE_CODED_PROFESSIONS = ("engineer", "pilot", "carpenter", "mechanic", "firefighter", "plumber")

HOBBIES = ("reading old books", "long walks by the river", "cooking for friends", "playing chess",
           "growing tomatoes", "painting landscapes", "swimming in the sea", "watching films",
           "singing in a choir", "riding a bicycle", "baking bread", "learning languages")
